"""Settings: CLI flag beats environment beats default, and bad values get one sentence."""

import json

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
