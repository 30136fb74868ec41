"""The registry: one name per kind, optimizers' implementations imported only when a model of their backend loads."""

import json
import sys
import textwrap

import numpy as np
import pytest

from tests.cli import run_trio
from trio_core import TrioCore, hookimpl
from trio_core.backends import Backend, LoadedModel, PreparedPrompt
from trio_core.errors import IncompatibleOptimizerError, PluginConflictError
from trio_core.families import ModelFamily
from trio_core.frames import Frame
from trio_core.optimizers import Optimizer, Stage
from trio_core.plugins import registry
from trio_core.sources import FrameSource, read_frames

TWIN = '''
"""A second distribution that also registers an optimizer called 'halve', and one whose extra is missing."""

from trio_core import hookimpl
from trio_core.optimizers import Optimizer, Stage


class Halve(Optimizer):
    name = "halve"
    stage = Stage.LLM_PREFILL
    families = frozenset({"echo"})
    implementations = {"echo": "trio_twin_echo"}


class Sharpen(Optimizer):
    name = "sharpen"
    stage = Stage.VISION_ENCODER
    families = frozenset({"echo"})
    implementations = {"echo": "trio_twin_echo", "mlx": "trio_twin_mlx"}


class Blur(Optimizer):
    name = "blur"
    stage = Stage.VISION_ENCODER
    families = frozenset({"echo"})
    implementations = {"torch": "trio_twin_torch"}


@hookimpl
def register_optimizers(register):
    register(Halve())
    register(Sharpen())
    register(Blur())
'''


def install(site, module: str, distribution: str, version: str, body: str, entry_point: str) -> None:
    """``module`` as the distribution ``distribution``, with its ``trio`` entry point, in ``site``."""
    (site / f"{module}.py").write_text(textwrap.dedent(body))
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[trio]\n{entry_point} = {module}\n")


@pytest.fixture
def twin_site(echo_site):
    """The echo plugin and trio-twin, whose 'halve' clashes with echo's and whose 'sharpen' needs a library
    that is not installed (its echo implementation imports it)."""
    install(echo_site, "trio_twin", "trio-twin", "1.0", TWIN, "twin")
    (echo_site / "trio_twin_echo.py").write_text("import trio_missing_framework  # noqa: F401\n")
    return echo_site


def test_two_plugins_registering_one_name_are_listed_and_refused_in_one_sentence(twin_site, echo_model):
    report = {plugin["name"]: plugin for plugin in json.loads(run_trio("plugins", "--json", site=twin_site).stdout)}
    for name in ("echo", "twin"):
        (conflict,) = report[name]["conflicts"]
        assert conflict.startswith("Two plugins register an optimizer called 'halve': ")
        assert "trio-echo (plugin 'echo')" in conflict and "trio-twin (plugin 'twin')" in conflict
    assert f"  conflict: {conflict}" in run_trio("plugins", site=twin_site, check=True).stdout
    asked = run_trio(
        "analyze", "fake://yard", "-q", "hi", "--model", str(echo_model), "--backend", "echo", "--optimizers", "halve",
        site=twin_site,
    )  # fmt: skip
    assert asked.returncode == 1
    assert asked.stderr.strip() == f"Error: {conflict}"
    # The rest keeps working: only the name that clashes is refused.
    plain = run_trio(
        "analyze", "fake://yard", "-q", "hi", "--model", str(echo_model), "--backend", "echo", site=twin_site
    )
    assert plain.returncode == 0 and plain.stdout.startswith("I saw")


def test_an_optimizer_whose_backend_extra_is_missing_names_the_pip_install_before_the_model_loads(
    twin_site, echo_model
):
    result = run_trio(
        "analyze", "fake://yard", "-q", "hi", "--model", str(echo_model), "--backend", "echo", "--optimizers", "sharpen",
        site=twin_site,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: The optimizer 'sharpen' needs 'trio_missing_framework' on the echo backend, which is not installed: "
        "run `pip install 'trio-twin[echo]'`."
    )
    elsewhere = run_trio(
        "analyze", "fake://yard", "-q", "hi", "--model", str(echo_model), "--backend", "echo", "--optimizers", "blur",
        site=twin_site,
    )  # fmt: skip
    assert elsewhere.stderr.strip() == (
        "Error: The optimizer 'blur' has no implementation for the echo backend, only for torch: run it with "
        "--backend torch (after `pip install 'trio-twin[torch]'`), or drop it from --optimizers."
    )
    listed = {plugin["name"]: plugin for plugin in json.loads(run_trio("plugins", "--json", site=twin_site).stdout)}
    (sharpen,) = [item for item in listed["twin"]["registers"]["optimizer"] if item["name"] == "sharpen"]
    assert sharpen["backends"] == ["echo", "mlx"]
    assert sharpen["extras"] == {"echo": "trio-twin[echo]", "mlx": "trio-twin[mlx]"}


class Lazy(Optimizer):
    """An optimizer whose echo implementation is a module nobody imports until a model loads with it."""

    name = "lazy"
    stage = Stage.AFTER_ENCODER
    families = frozenset({"echo", "mute"})
    implementations = {"echo": "tests.plugins.lazy_implementation", "mute": "tests.plugins.lazy_implementation"}


class Elsewhere(Optimizer):
    name = "elsewhere"
    stage = Stage.AFTER_ENCODER
    families = frozenset({"echo"})
    implementations = {"mlx": "trio_elsewhere.mlx"}


class MuteModel(LoadedModel):
    """A model of a backend that runs no optimizers: it has no request hooks."""

    backend, device, dtype = "mute", "cpu", "none"

    def __init__(self, family, model_dir):
        self.family, self.model_dir = family, model_dir
        self.closed = False

    def prepare(self, messages):
        return PreparedPrompt(inputs=None, prompt_tokens=1, visual_tokens=1)

    def generate(self, prompt, settings, stats):
        yield "quiet"

    def close(self):
        self.closed = True


class MuteBackend(Backend):
    name = "mute"
    loaded: list[MuteModel] = []

    def is_available(self):
        return True

    def load(self, model_dir, family, config):
        self.loaded.append(MuteModel(family, model_dir))
        return self.loaded[-1]


class Extras:
    @hookimpl
    def register_optimizers(self, register):
        register(Lazy())
        register(Elsewhere())

    @hookimpl
    def register_backends(self, register):
        register(MuteBackend())

    @hookimpl
    def register_model_families(self, register):
        register(ModelFamily("mute", backend="mute", model_types=("mute",)))


@pytest.fixture
def echo_and_extras(trio_plugin, echo_site, monkeypatch):
    monkeypatch.syspath_prepend(str(echo_site))
    import trio_echo

    trio_plugin(trio_echo, name="echo-test")
    trio_plugin(Extras(), name="extras")
    sys.modules.pop("tests.plugins.lazy_implementation", None)


def test_an_optimizers_implementation_is_imported_only_when_a_model_of_its_backend_loads(echo_and_extras, echo_model):
    from trio_core.doctor import plugin_report

    plugin_report()
    TrioCore(model=str(echo_model), backend="echo").load()
    assert "tests.plugins.lazy_implementation" not in sys.modules  # listed, loaded without it: never imported
    result = (
        TrioCore(model=str(echo_model), backend="echo", optimizers=["lazy"])
        .load()
        .analyze_frame(np.zeros((8, 8, 3), np.uint8), "anything?")
    )
    assert "tests.plugins.lazy_implementation" in sys.modules
    assert [(step.optimizer, step.before, step.after) for step in result.metrics.visual_token_steps] == [("lazy", 1, 1)]


def test_an_optimizer_without_an_implementation_for_the_backend_is_refused_before_the_load(echo_and_extras, echo_model):
    with pytest.raises(IncompatibleOptimizerError) as refused:
        TrioCore(model=str(echo_model), backend="echo", optimizers=["elsewhere"]).load()
    assert str(refused.value) == (
        "The optimizer 'elsewhere' has no implementation for the echo backend, only for mlx: "
        "run it with --backend mlx, or drop it from --optimizers."
    )


def test_a_backend_without_request_hooks_refuses_every_optimizer_and_frees_the_model(echo_and_extras, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mute"}))
    with pytest.raises(IncompatibleOptimizerError) as refused:
        TrioCore(model=str(tmp_path), backend="mute", optimizers=["lazy"]).load()
    assert str(refused.value) == (
        "The mute backend runs no optimizers (its models have no request hooks): drop --optimizers."
    )
    assert MuteBackend.loaded[-1].closed


class Still(FrameSource):
    name = "still"
    schemes = ("still",)

    def open(self, target, plan, config):
        yield Frame(image=np.zeros((8, 8, 3), np.uint8), timestamp=0.0, index=0)


def test_two_sources_of_one_name_stop_frame_reading_with_one_sentence(trio_plugin):
    class First:
        @hookimpl
        def register_frame_sources(self, register):
            register(Still())

    class Second:
        @hookimpl
        def register_frame_sources(self, register):
            register(Still())

    trio_plugin(First(), name="first")
    assert len(read_frames("still://x")) == 1
    trio_plugin(Second(), name="second")
    with pytest.raises(PluginConflictError) as clash:
        read_frames("still://x")
    message = str(clash.value)
    assert message.startswith("Two plugins register a frame source called 'still': ")
    assert "(plugin 'first')" in message and "(plugin 'second')" in message and "run time" in message


def test_families_of_one_name_on_two_backends_do_not_clash(trio_plugin):
    class Mirror:
        @hookimpl
        def register_model_families(self, register):
            register(ModelFamily("qwen2_5_vl", backend="mirror", model_types=("qwen2_5_vl",)))

    trio_plugin(Mirror(), name="mirror")
    families = [(family.backend, family.name) for family in registry().objects("model family")]
    assert ("mirror", "qwen2_5_vl") in families
