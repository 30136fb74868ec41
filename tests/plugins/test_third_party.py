"""A plugin installed from outside the project is discovered and used like a built-in one."""

import json

import pytest

from tests.cli import run_trio
from trio_core import TrioCore, hookimpl
from trio_core.errors import ConfigError, MediaError, PluginNotFoundError
from trio_core.filters import FrameFilter
from trio_core.plugins import load_plugins, pm, registry


def test_installed_plugin_is_listed_with_its_distribution_and_hooks(echo_site):
    report = json.loads(run_trio("plugins", "--json", site=echo_site, check=True).stdout)
    echo = next(plugin for plugin in report if plugin["name"] == "echo")
    assert echo["distribution"] == "trio-echo"
    assert echo["version"] == "0.3.0"
    assert {"register_backends", "register_frame_sources", "register_model_families"} <= set(echo["hooks"])
    assert [item["name"] for item in echo["registers"]["backend"]] == ["echo"]
    assert echo["registers"]["frame source"][0]["schemes"] == ["fake"]
    defaults = [plugin for plugin in report if plugin["default"]]
    assert {plugin["name"] for plugin in defaults} == {
        "trio_core.sources",
        "trio_core.filters",
        "trio_core.sinks",
        "trio_core.bench",
    }
    assert all(plugin["distribution"] == "trio-core" for plugin in defaults)


def test_installed_plugin_backend_and_source_answer_through_the_cli(echo_site, echo_model):
    result = run_trio(
        "analyze",
        "fake://garden",
        "-q",
        "what moved?",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        "--max-frames",
        "3",
        "--json",
        site=echo_site,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["text"] == "I saw 3 frames and you asked: what moved?"
    assert answer["backend"] == "echo"
    assert answer["metrics"]["frames_in"] == 3


def test_trio_plugins_restricts_loading(echo_site):
    none = json.loads(run_trio("plugins", "--json", site=echo_site, env={"TRIO_PLUGINS": ""}, check=True).stdout)
    assert {plugin["name"] for plugin in none} == {
        "trio_core.sources",
        "trio_core.filters",
        "trio_core.sinks",
        "trio_core.bench",
    }
    only_echo = json.loads(
        run_trio("plugins", "--json", site=echo_site, env={"TRIO_PLUGINS": "echo"}, check=True).stdout
    )
    assert {plugin["name"] for plugin in only_echo} == {
        "trio_core.sources",
        "trio_core.filters",
        "trio_core.sinks",
        "trio_core.bench",
        "echo",
    }


def test_missing_backend_names_the_package_to_install(echo_site, echo_model):
    result = run_trio(
        "analyze",
        "fake://x",
        "-q",
        "hi",
        "--model",
        str(echo_model),
        "--backend",
        "torch",
        site=echo_site,
        env={"TRIO_PLUGINS": "echo"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "pip install trio-backend-torch" in result.stderr


def test_missing_optimizer_names_the_package_to_install(echo_site, echo_model):
    result = run_trio(
        "analyze",
        "fake://x",
        "-q",
        "hi",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        "--optimizers",
        "tome",
        site=echo_site,
        env={"TRIO_PLUGINS": "echo"},
    )
    assert result.returncode == 1
    assert "pip install trio-opt-tome" in result.stderr


def test_a_source_for_an_unknown_scheme_says_none_is_installed(echo_site, echo_model):
    result = run_trio(
        "analyze",
        "ftp://127.0.0.1:8554/cam",
        "-q",
        "hi",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        site=echo_site,
        env={"TRIO_PLUGINS": "echo"},
    )
    assert result.returncode == 1
    assert "No frame source called 'ftp' is installed" in result.stderr


@pytest.fixture
def echo_registered(echo_site, monkeypatch):
    """The echo plugin registered in this process for one test, then removed again."""
    load_plugins()  # discover installed plugins first, so the echo dist-info on sys.path is not loaded twice
    monkeypatch.syspath_prepend(str(echo_site))
    import trio_echo

    pm.register(trio_echo, name="echo-test")
    yield trio_echo
    pm.unregister(name="echo-test")


def test_plugin_registered_at_run_time_is_used_by_the_sdk(echo_registered, echo_model):
    assert "echo" in [backend.name for backend in registry().objects("backend")]
    engine = TrioCore(model=str(echo_model), backend="echo", max_frames=2, dedup_threshold=0).load()
    result = engine.analyze_video("fake://porch", "anyone there?")
    assert result.text == "I saw 2 frames and you asked: anyone there?"
    assert result.metrics.frames_used == 2
    assert result.finish_reason == "stop"


def test_unregistered_plugin_is_gone(echo_registered):
    pm.unregister(name="echo-test")
    try:
        with pytest.raises(PluginNotFoundError, match="No backend called 'echo'"):
            registry().find("backend", "echo")
    finally:
        pm.register(echo_registered, name="echo-test")


def test_a_broken_plugin_is_reported_and_the_others_still_work(echo_site, echo_model):
    (echo_site / "trio_broken.py").write_text("raise ImportError('needs libfoo, which is missing')\n")
    info = echo_site / "trio_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trio-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trio]\nbroken = trio_broken\n")
    result = run_trio("plugins", "--json", site=echo_site, check=True)
    report = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert "needs libfoo" in report["broken"]["error"]
    assert "echo" in report and "error" not in report["echo"]
    assert "trio plugin 'broken' failed to load" in result.stderr
    answer = run_trio(
        "analyze",
        "fake://x",
        "-q",
        "still there?",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        "--json",
        site=echo_site,
        check=True,
    )
    assert json.loads(answer.stdout)["text"].startswith("I saw")


def test_a_plugin_named_in_trio_plugins_but_not_installed_is_reported(echo_site):
    report = json.loads(
        run_trio("plugins", "--json", site=echo_site, env={"TRIO_PLUGINS": "echo,nope"}, check=True).stdout
    )
    assert {plugin["name"]: plugin.get("error") for plugin in report}[
        "nope"
    ] == "is named in TRIO_PLUGINS but not installed"


def test_a_filter_that_drops_every_frame_is_one_clear_error(echo_registered, echo_model):
    class DropEverything(FrameFilter):
        name = "drop_all"

        def keep(self, frame):
            return False

    class DropAll:
        @hookimpl
        def register_frame_filters(self, register):
            register(DropEverything)

    pm.register(DropAll(), name="drop-all")
    try:
        engine = TrioCore(model=str(echo_model), backend="echo").load()
        with pytest.raises(MediaError, match="The drop_all filter dropped every frame of fake://porch"):
            engine.analyze_video("fake://porch", "anyone?")
    finally:
        pm.unregister(name="drop-all")


def test_an_unknown_answer_setting_is_a_config_error(echo_registered, echo_model):
    engine = TrioCore(model=str(echo_model), backend="echo").load()
    with pytest.raises(ConfigError, match="Unknown setting max_new_tokens"):
        engine.analyze_video("fake://porch", "anyone?", max_new_tokens=3)
