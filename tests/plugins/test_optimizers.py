"""Optimizers are composed by stage, refused where they do not fit, and report what they did."""

import pytest

from trio_core import TrioCore, hookimpl
from trio_core.errors import IncompatibleOptimizerError
from trio_core.optimizers import Optimizer, Stage
from trio_core.plugins import load_plugins, plugin_report, pm


class Halve(Optimizer):
    """Pretends to drop half the visual tokens, and says so through the generation stats."""

    def __init__(self, name, stage, families=frozenset({"echo"})):
        self.name, self.stage, self.families, self.backends = name, stage, frozenset(families), frozenset({"echo"})

    def apply(self, model, config):
        model.applied = [*getattr(model, "applied", []), self.name]
        inner = model.generate

        def generate(prompt, settings, stats):
            yield from inner(prompt, settings, stats)
            before = stats.visual_token_steps[-1][2] if stats.visual_token_steps else prompt.visual_tokens
            stats.visual_token_steps.append((self.name, before, before // 2))

        model.generate = generate


class OptimizerPlugin:
    @hookimpl
    def register_optimizers(self, register):
        register(Halve("merge", Stage.VISION_ENCODER))
        register(Halve("prune", Stage.LLM_PREFILL))
        register(Halve("qwen-only", Stage.AFTER_ENCODER, families={"qwen2_5_vl", "qwen2_vl"}))


@pytest.fixture
def optimizers(echo_site, monkeypatch):
    load_plugins()
    monkeypatch.syspath_prepend(str(echo_site))
    import trio_echo

    pm.register(trio_echo, name="echo-test")
    pm.register(OptimizerPlugin(), name="halve")
    yield
    pm.unregister(name="halve")
    pm.unregister(name="echo-test")


def test_optimizers_are_applied_in_stage_order_and_report_their_tokens(optimizers, echo_model):
    engine = TrioCore(model=str(echo_model), backend="echo", optimizers=["prune", "merge"], max_frames=4).load()
    assert engine.model.applied == ["merge", "prune"]
    result = engine.analyze_video("fake://yard", "anything?")
    assert result.optimizers == ["merge", "prune"]
    metrics = result.metrics
    assert metrics.visual_tokens == 4
    # Each step starts from the previous one's output.
    assert [(s.optimizer, s.before, s.after) for s in metrics.visual_token_steps] == [("merge", 4, 2), ("prune", 2, 1)]
    assert metrics.visual_tokens_after == 1


def test_an_optimizer_for_another_family_is_refused_at_load(optimizers, echo_model):
    with pytest.raises(IncompatibleOptimizerError) as refused:
        TrioCore(model=str(echo_model), backend="echo", optimizers=["merge", "qwen-only"]).load()
    message = str(refused.value)
    assert "'qwen-only' does not support the echo model family" in message
    assert "qwen2_5_vl, qwen2_vl" in message


def test_plugins_report_shows_each_optimizers_stage_and_families(optimizers):
    halve = next(plugin for plugin in plugin_report() if plugin["name"] == "halve")
    listed = {item["name"]: item for item in halve["registers"]["optimizer"]}
    assert listed["qwen-only"]["families"] == ["qwen2_5_vl", "qwen2_vl"]
    assert listed["merge"]["stage"] == "vision_encoder"
