"""Optimizers are composed by stage, refused where they do not fit, and report what they did."""

import click
import pytest
from pydantic import Field

from trio_core import TrioCore, hookimpl
from trio_core.cli.options import _optimizer_settings
from trio_core.doctor import plugin_report
from trio_core.errors import ConfigError, IncompatibleOptimizerError, PluginNotFoundError
from trio_core.generation import RequestHook, request_hooks
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage
from trio_core.plugins import load_plugins, pm


class Halve(Optimizer):
    """Pretends to drop a share of the visual tokens (half unless set), and says so through the generation stats."""

    class Settings(OptimizerSettings):
        keep: float = Field(0.5, gt=0.0, le=1.0, description="Share of the visual tokens kept.")

    def __init__(self, name, stage, families=frozenset({"echo"}), conflicts=frozenset()):
        self.name, self.stage, self.families = name, stage, frozenset(families)
        self.implementations = {"echo": f"{__name__}:install_halving"}
        self.conflicts = frozenset(conflicts)

    def implementation(self, backend, distribution=None):
        install = super().implementation(backend, distribution)  # the table's checks and import
        return lambda model, settings: install(model, self.name, settings)


class Halving(RequestHook):
    """Each step starts from the tokens the previous optimizer left."""

    def __init__(self, name, keep):
        self.name, self.keep = name, keep

    def after_generate(self, model, request):
        steps = request.stats.visual_token_steps
        before = steps[-1][2] if steps else request.inputs["visual_tokens"]
        steps.append((self.name, before, int(before * self.keep)))


def install_halving(model, name, settings):
    """Halve's implementation on the echo backend (one for every instance: it is told which one it installs)."""
    model.applied = [*getattr(model, "applied", []), name]
    request_hooks(model, name).append(Halving(name, settings.keep))


class OptimizerPlugin:
    @hookimpl
    def register_optimizers(self, register):
        register(Halve("merge", Stage.VISION_ENCODER))
        register(Halve("prune", Stage.LLM_PREFILL))
        register(Halve("qwen-only", Stage.AFTER_ENCODER, families={"qwen2_5_vl", "qwen2_vl"}))
        register(Halve("reuse", Stage.KV_CACHE, conflicts={"prune"}))


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


def test_an_optimizers_settings_reach_it_and_bad_ones_are_refused_in_one_sentence(optimizers, echo_model):
    settings = {"prune": {"keep": "0.25"}}
    engine = TrioCore(
        model=str(echo_model), backend="echo", optimizers=["prune"], optimizer_settings=settings, max_frames=4
    )
    metrics = engine.load().analyze_video("fake://yard", "anything?").metrics
    assert [(s.optimizer, s.before, s.after) for s in metrics.visual_token_steps] == [("prune", 4, 1)]

    with pytest.raises(ConfigError, match=r"--opt prune\.keep: Input should be less than or equal to 1"):
        TrioCore(
            model=str(echo_model), backend="echo", optimizers=["prune"], optimizer_settings={"prune": {"keep": 2}}
        ).load()
    with pytest.raises(
        ConfigError, match=r"--opt prune\.ratio: Extra inputs are not permitted \(settings of 'prune': keep\)"
    ):
        TrioCore(
            model=str(echo_model), backend="echo", optimizers=["prune"], optimizer_settings={"prune": {"ratio": 1}}
        ).load()
    with pytest.raises(PluginNotFoundError):
        TrioCore(model=str(echo_model), backend="echo", optimizer_settings={"nosuch": {"keep": 1}}).load()
    # Settings of an optimizer that is installed but not asked for are kept for later (trio eval --compare).
    TrioCore(model=str(echo_model), backend="echo", optimizer_settings={"merge": {"keep": 0.9}}).load()


def test_optimizers_that_conflict_are_refused_at_load(optimizers, echo_model):
    with pytest.raises(IncompatibleOptimizerError, match="'reuse' cannot run together with 'prune'"):
        TrioCore(model=str(echo_model), backend="echo", optimizers=["prune", "reuse"]).load()
    TrioCore(model=str(echo_model), backend="echo", optimizers=["merge", "reuse"]).load()


def test_plugins_report_lists_settings_and_conflicts(optimizers):
    halve = next(plugin for plugin in plugin_report() if plugin["name"] == "halve")
    listed = {item["name"]: item for item in halve["registers"]["optimizer"]}
    assert listed["reuse"]["conflicts"] == ["prune"]
    assert listed["merge"]["settings"] == {"keep": 0.5}


def test_plugins_text_shows_settings_and_conflicts(optimizers):
    from trio_core.doctor import brief, plugin_report

    halve = next(plugin for plugin in plugin_report() if plugin["name"] == "halve")
    listed = {item["name"]: brief(item) for item in halve["registers"]["optimizer"]}
    assert listed["reuse"] == "reuse [echo] (keep=0.5) not with prune on echo"


def test_opt_flags_become_settings_per_optimizer():
    parsed = _optimizer_settings(None, None, ("tome.keep=0.5", "tome.blocks = 2", "fastv.layer=2"))
    assert parsed == {"tome": {"keep": "0.5", "blocks": "2"}, "fastv": {"layer": "2"}}
    assert _optimizer_settings(None, None, ()) is None
    for bad in ("tome=0.5", "keep=0.5", "tome.keep", ".keep=1"):
        with pytest.raises(click.BadParameter, match="is not NAME.SETTING=VALUE"):
            _optimizer_settings(None, None, (bad,))


def test_optimizer_settings_come_from_the_environment_as_json(monkeypatch):
    from trio_core.config import load_config

    monkeypatch.setenv("TRIO_OPTIMIZER_SETTINGS", '{"tome": {"keep": 0.4}}')
    assert load_config().optimizer_settings == {"tome": {"keep": 0.4}}
