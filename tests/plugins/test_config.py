"""Settings: CLI flag beats environment beats default, and bad values get one sentence."""

import json
import os

import pytest

from tests.cli import run_trio
from trio_core.config import DEFAULT_MODEL, EngineConfig, load_config
from trio_core.errors import ConfigError


def test_defaults(monkeypatch):
    for name in ("TRIO_MODEL", "TRIO_FPS", "TRIO_OPTIMIZERS"):
        monkeypatch.delenv(name, raising=False)
    config = EngineConfig()
    assert config.model == DEFAULT_MODEL
    assert config.backend == "auto"
    assert config.temperature == 0.0
    assert config.optimizers == []


def test_environment_overrides_default_and_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("TRIO_FPS", "5")
    monkeypatch.setenv("TRIO_MAX_TOKENS", "7")
    assert load_config().fps == 5.0
    config = load_config(fps=3, max_tokens=None)
    assert config.fps == 3.0
    assert config.max_tokens == 7


def test_optimizer_list_from_environment(monkeypatch):
    monkeypatch.setenv("TRIO_OPTIMIZERS", "tome, kvreuse")
    assert load_config().optimizers == ["tome", "kvreuse"]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [({"fps": -1}, "fps"), ({"min_frames": 9, "max_frames": 3}, "min_frames"), ({"dtype": "int3"}, "dtype")],
)
def test_invalid_values_are_one_clear_sentence(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment) as error:
        load_config(**overrides)
    assert "\n" not in str(error.value)


def test_cli_flag_beats_environment_end_to_end(echo_site, echo_model):
    env = {"TRIO_PLUGINS": "echo", "TRIO_MAX_TOKENS": "2", "TRIO_MODEL": str(echo_model), "TRIO_BACKEND": "echo"}
    from_env = json.loads(
        run_trio("analyze", "fake://x", "-q", "hello there", "--json", site=echo_site, env=env, check=True).stdout
    )
    assert from_env["text"] == "I saw"
    assert from_env["finish_reason"] == "length"
    from_flag = json.loads(
        run_trio(
            "analyze",
            "fake://x",
            "-q",
            "hello there",
            "--max-tokens",
            "3",
            "--json",
            site=echo_site,
            env=env,
            check=True,
        ).stdout
    )
    assert from_flag["text"] == "I saw 5"


def test_cli_rejects_a_bad_setting_in_one_line(echo_site, echo_model):
    result = run_trio(
        "analyze",
        "fake://x",
        "-q",
        "hi",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        "--fps",
        "0",
        site=echo_site,
        env={"TRIO_PLUGINS": "echo"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Invalid setting fps")
    assert result.stderr.strip().count("\n") == 0


def test_sdk_overrides_on_top_of_a_config_are_validated_too():
    from trio_core import TrioCore

    base = EngineConfig(fps=4)
    assert TrioCore(base, max_tokens=9).config.fps == 4.0
    assert TrioCore(base, max_tokens=9).config.max_tokens == 9
    with pytest.raises(ConfigError, match="max_tokens"):
        TrioCore(base, max_tokens=0)


@pytest.fixture
def clean_environment(monkeypatch):
    """No TRIO_* variable from the shell that runs the tests."""
    for name in [name for name in os.environ if name.startswith("TRIO_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_filter_settings_come_from_the_environment_as_json(clean_environment):
    clean_environment.setenv("TRIO_FILTER_SETTINGS", '{"motion_gate": {"enabled": true, "min_area": 0.02}}')
    assert load_config().filter_settings == {"motion_gate": {"enabled": True, "min_area": 0.02}}


def test_the_old_filter_settings_are_aliases_folded_into_filter_settings(clean_environment):
    config = EngineConfig(dedup_threshold=0.0, motion_gate=True, motion_pixel_threshold=0.2, motion_min_area=0.01)
    assert config.filter_settings == {
        "dedup": {"threshold": 0.0},
        "motion_gate": {"enabled": True, "pixel_threshold": 0.2, "min_area": 0.01},
    }
    clean_environment.setenv("TRIO_DEDUP_THRESHOLD", "0.07")
    clean_environment.setenv("TRIO_MOTION_GATE", "1")
    assert load_config().filter_settings == {"dedup": {"threshold": "0.07"}, "motion_gate": {"enabled": "1"}}


def test_aliases_are_inputs_only(clean_environment):
    config = EngineConfig(dedup_threshold=0.0)
    assert "dedup_threshold" not in config.model_dump()
    with pytest.raises(ValueError, match="frozen"):
        config.dedup_threshold = 0.5  # would change nothing: filter_settings is what filters read


def test_an_entry_beats_its_alias_given_at_the_same_level(clean_environment):
    given = EngineConfig(dedup_threshold=0.0, filter_settings={"dedup": {"threshold": 0.1}})
    assert given.filter_settings == {"dedup": {"threshold": 0.1}}
    clean_environment.setenv("TRIO_DEDUP_THRESHOLD", "0")
    clean_environment.setenv("TRIO_FILTER_SETTINGS", '{"dedup": {"threshold": 0.1}}')
    assert load_config().filter_settings == {"dedup": {"threshold": 0.1}}


def test_a_keyword_beats_the_environment_setting_by_setting(clean_environment):
    clean_environment.setenv("TRIO_FILTER_SETTINGS", '{"dedup": {"threshold": 0.1}, "motion_gate": {"enabled": true}}')
    clean_environment.setenv("TRIO_MOTION_MIN_AREA", "0.3")
    config = load_config(dedup_threshold=0.0, filter_settings={"motion_gate": {"pixel_threshold": "0.2"}})
    assert config.filter_settings == {
        "dedup": {"threshold": 0.0},  # the keyword alias beats the environment's entry
        "motion_gate": {"enabled": True, "min_area": "0.3", "pixel_threshold": "0.2"},  # the rest is kept
    }


def test_an_override_beats_the_base_setting_by_setting(clean_environment):
    base = EngineConfig(
        filter_settings={"dedup": {"threshold": 0.1, "enabled": True}, "motion_gate": {"enabled": True}}
    )
    assert load_config(base, dedup_threshold=0.0).filter_settings == {
        "dedup": {"threshold": 0.0, "enabled": True},
        "motion_gate": {"enabled": True},
    }
    assert load_config(base, filter_settings={"motion_gate": {"enabled": False}}).filter_settings == {
        "dedup": {"threshold": 0.1, "enabled": True},
        "motion_gate": {"enabled": False},
    }
    assert load_config(base, max_tokens=3).filter_settings == base.filter_settings


def test_trio_eval_turns_dedup_off_whatever_the_environment_says(clean_environment):
    clean_environment.setenv("TRIO_DEDUP_THRESHOLD", "0.2")
    clean_environment.setenv("TRIO_FILTER_SETTINGS", '{"dedup": {"threshold": 0.1}}')
    assert load_config(dedup_threshold=0.0).filter_settings == {"dedup": {"threshold": 0.0}}  # what trio eval does


def test_a_bad_alias_value_is_one_sentence_naming_it(clean_environment):
    with pytest.raises(ConfigError, match=r"^Invalid setting motion_gate: Input should be a valid boolean"):
        load_config(motion_gate="sometimes")


def test_checked_settings_name_the_flag_the_setting_and_what_is_known():
    from pydantic import BaseModel, ConfigDict, Field

    from trio_core.config import checked_settings

    class Keep(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        keep: float = Field(0.5, gt=0.0, le=1.0)

    assert checked_settings(Keep, {"keep": "0.25"}, flag="--opt", name="prune") == Keep(keep=0.25)
    with pytest.raises(ConfigError) as error:
        checked_settings(Keep, {"keep": 2}, flag="--opt", name="prune")
    assert str(error.value) == "--opt prune.keep: Input should be less than or equal to 1 (settings of 'prune': keep)."
    with pytest.raises(ConfigError) as error:
        checked_settings(Keep, {"ratio": 1}, flag="--filter", name="halve")
    assert str(error.value) == "--filter halve.ratio: Extra inputs are not permitted (settings of 'halve': keep)."
