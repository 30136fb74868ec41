"""A plugin's frame filter is configured exactly as dedup and the motion gate are, and each filter reports its frames."""

import json

import pytest
from pydantic import Field

from tests.cli import run_trio
from trio_core import TrioCore, hookimpl
from trio_core.doctor import brief, plugin_report
from trio_core.errors import ConfigError, PluginNotFoundError
from trio_core.filters import FilterSettings, FrameFilter
from trio_core.plugins import load_plugins, pm


class EveryOther(FrameFilter):
    """Keeps one frame in ``step``, by position: a plugin's filter that is off unless asked for."""

    name = "every_other"
    summary = "Keeps one frame in `step`."

    class Settings(FilterSettings):
        enabled: bool = False
        step: int = Field(2, ge=1, description="Keep one frame in this many.")

    def keep(self, frame):
        return frame.index % self.settings.step == 0


class EveryOtherPlugin:
    @hookimpl
    def register_frame_filters(self, register):
        register(EveryOther)


@pytest.fixture
def every_other(echo_site, monkeypatch):
    """The echo plugin (its fake:// source yields 5 different frames) and the every_other filter, for one test."""
    for name in ("TRIO_FILTER_SETTINGS", "TRIO_DEDUP_THRESHOLD", "TRIO_MOTION_GATE"):
        monkeypatch.delenv(name, raising=False)
    load_plugins()
    monkeypatch.syspath_prepend(str(echo_site))
    import trio_echo

    pm.register(trio_echo, name="echo-test")
    pm.register(EveryOtherPlugin(), name="every-other")
    yield
    pm.unregister(name="every-other")
    pm.unregister(name="echo-test")


def steps(result):
    return [(step.filter, step.before, step.after) for step in result.metrics.frame_filter_steps]


def ask(echo_model, **settings):
    return TrioCore(model=str(echo_model), backend="echo", **settings).load().analyze_video("fake://yard", "who?")


def test_a_plugins_filter_is_off_until_its_settings_turn_it_on(every_other, echo_model):
    assert steps(ask(echo_model)) == [("dedup", 5, 5)]
    result = ask(echo_model, filter_settings={"every_other": {"enabled": True}})
    # Installed plugins' filters run before the core's; each that ran is one step, by name.
    assert steps(result) == [("every_other", 5, 3), ("dedup", 3, 3)]
    assert (result.metrics.frames_in, result.metrics.frames_used) == (5, 3)
    assert result.text == "I saw 3 frames and you asked: who?"


def test_a_plugins_filter_is_set_from_the_environment_like_dedup(every_other, echo_model, monkeypatch):
    monkeypatch.setenv(
        "TRIO_FILTER_SETTINGS", '{"every_other": {"enabled": true, "step": 5}, "dedup": {"threshold": 0}}'
    )
    assert steps(ask(echo_model)) == [("every_other", 5, 1)]


def test_the_built_in_filters_report_their_steps_by_name(every_other, echo_model):
    result = ask(echo_model, filter_settings={"motion_gate": {"enabled": True}})
    assert steps(result) == [("dedup", 5, 5), ("motion_gate", 5, 5)]
    assert steps(ask(echo_model, dedup_threshold=0)) == []  # no filter ran


def test_bad_filter_settings_fail_at_load_in_one_sentence(every_other, echo_model):
    with pytest.raises(ConfigError) as error:
        TrioCore(model=str(echo_model), backend="echo", filter_settings={"every_other": {"step": 0}}).load()
    assert str(error.value) == (
        "--filter every_other.step: Input should be greater than or equal to 1 (settings of 'every_other': enabled, step)."
    )
    # Checked whether or not the filter is on, so a typo never goes unnoticed.
    with pytest.raises(ConfigError, match=r"^--filter dedup\.treshold: Extra inputs are not permitted"):
        TrioCore(model=str(echo_model), backend="echo", filter_settings={"dedup": {"treshold": 1}}).load()
    with pytest.raises(PluginNotFoundError, match="No frame filter called 'blur' is installed"):
        TrioCore(model=str(echo_model), backend="echo", filter_settings={"blur": {"enabled": True}}).load()


def test_bad_filter_settings_fail_at_the_first_frame_read_without_a_model(every_other):
    engine = TrioCore(filter_settings={"every_other": {"step": "two"}})
    with pytest.raises(ConfigError, match=r"^--filter every_other\.step: Input should be a valid integer"):
        engine.read_video("fake://yard")


def test_trio_plugins_lists_a_filters_settings_with_their_defaults(every_other):
    plugin = next(plugin for plugin in plugin_report() if plugin["name"] == "every-other")
    [listed] = plugin["registers"]["frame filter"]
    assert listed == {"name": "every_other", "settings": {"enabled": False, "step": 2}, "summary": EveryOther.summary}
    assert brief(listed) == "every_other (enabled=False, step=2)"


def test_filter_flags_configure_the_built_in_filters_through_the_cli(echo_site, echo_model):
    args = ("analyze", "fake://x", "-q", "hi", "--model", str(echo_model), "--backend", "echo", "--json")
    flags = ("--filter", "motion_gate.enabled=true", "--filter", "dedup.threshold=0")
    answer = json.loads(run_trio(*args, *flags, site=echo_site, check=True).stdout)
    assert answer["metrics"]["frame_filter_steps"] == [{"filter": "motion_gate", "before": 5, "after": 5}]

    env = {"TRIO_FILTER_SETTINGS": '{"dedup": {"threshold": 0.5}}', "TRIO_MOTION_GATE": "1"}
    answer = json.loads(run_trio(*args, "--filter", "dedup.threshold=0", site=echo_site, env=env, check=True).stdout)
    # The flag beats the environment for dedup.threshold; the gate stays on from TRIO_MOTION_GATE.
    assert [step["filter"] for step in answer["metrics"]["frame_filter_steps"]] == ["motion_gate"]


def test_a_misspelt_filter_flag_is_one_sentence(echo_site, echo_model):
    args = ("analyze", "fake://x", "-q", "hi", "--model", str(echo_model), "--backend", "echo")
    result = run_trio(*args, "--filter", "dedup.treshold=1", site=echo_site)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: --filter dedup.treshold: Extra inputs are not permitted (settings of 'dedup': enabled, threshold).\n"
    )


def test_trio_plugins_shows_the_built_in_filters_settings(echo_site):
    lines = run_trio("plugins", site=echo_site, env={"TRIO_PLUGINS": ""}, check=True).stdout.splitlines()
    [at] = [i for i, line in enumerate(lines) if line.startswith("trio_core.filters  (trio-core ")]
    assert lines[at + 2] == (
        "  frame filter: dedup (enabled=True, threshold=0.03), "
        "motion_gate (enabled=False, pixel_threshold=0.1, min_area=0.005)"
    )
