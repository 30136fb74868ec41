"""`trio eval`: suites are plugins, configurations run side by side, retention is relative to baseline."""

import json

import pytest

from tests.cli import run_trio


def test_eval_compares_configurations_in_one_run(echo_site):
    result = run_trio(
        "eval",
        "frame-count",
        "--model",
        "echo-named",
        "--backend",
        "echo",
        "--compare",
        "baseline,halve",
        "--json",
        site=echo_site,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["suite"] == "frame-count" and report["samples"] == 6
    baseline, halve = report["configs"]
    assert (baseline["name"], baseline["optimizers"]) == ("baseline", [])
    assert (halve["name"], halve["optimizers"]) == ("halve", ["halve"])
    assert {task["task"]: task["accuracy"] for task in baseline["tasks"]} == {"one": 1.0, "several": 2 / 3}
    assert baseline["accuracy"] == 5 / 6 and baseline["retention"] == 1.0
    assert halve["retention"] == 1.0 and all(task["retention"] == 1.0 for task in halve["tasks"])
    # One frame is 1 visual token, three are 3: the halving optimizer leaves 0 and 1.
    assert baseline["mean_visual_tokens"] == baseline["mean_visual_tokens_after"] == 2.0
    assert halve["mean_visual_tokens_after"] == 0.5
    assert baseline["mean_latency_ms"] > 0 and baseline["mean_prefill_ms"] >= 0
    # Speedup is the baseline's mean latency over this configuration's, on the same questions.
    assert halve["speedup"] == pytest.approx(baseline["mean_latency_ms"] / halve["mean_latency_ms"])
    assert baseline["cache_hits"] == halve["cache_hits"] == {}


def test_eval_limit_and_table(echo_site):
    result = run_trio(
        "eval",
        "frame-count",
        "--model",
        "echo-named",
        "--backend",
        "echo",
        "--limit",
        "1",
        "--compare",
        "baseline,halve",
        site=echo_site,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "frame-count on echo-named: 2 questions"
    assert lines[1].split() == ["task", "n", "baseline", "halve"]
    assert lines[3].split() == ["one", "1", "100.0%", "(100%)", "100.0%", "(100%)"]
    assert lines[7].split()[:2] == ["prefill", "ms"]
    assert lines[8].split() == ["visual", "tokens", "2/2", "0/2"]
    assert lines[9].split()[:2] == ["speedup", "1.00x"]


def test_eval_of_an_unknown_suite_or_optimizer_is_one_sentence(echo_site):
    unknown_suite = run_trio("eval", "nope", "--model", "echo-named", "--backend", "echo", site=echo_site)
    assert unknown_suite.returncode == 1 and "No eval suite called 'nope'" in unknown_suite.stderr
    missing = run_trio(
        "eval",
        "frame-count",
        "--model",
        "echo-named",
        "--backend",
        "echo",
        "--compare",
        "baseline,sparsevlm",
        site=echo_site,
    )
    assert missing.returncode == 1 and "No optimizer called 'sparsevlm'" in missing.stderr


def test_a_named_model_resolves_to_its_location(echo_site):
    report = json.loads(run_trio("plugins", "--json", site=echo_site, check=True).stdout)
    echo = next(plugin for plugin in report if plugin["name"] == "echo")
    (model,) = echo["registers"]["model"]
    assert model["name"] == "echo-named" and model["location"].endswith("echo-model")
    answer = run_trio(
        "analyze",
        "fake://x",
        "-q",
        "hi",
        "--model",
        "echo-named",
        "--backend",
        "echo",
        "--json",
        site=echo_site,
        check=True,
    )
    assert json.loads(answer.stdout)["model"] == "echo-named"


def test_a_named_model_whose_files_are_missing_is_one_sentence(echo_site):
    (echo_site / "echo-model" / "config.json").unlink()
    (echo_site / "echo-model").rmdir()
    result = run_trio("analyze", "fake://x", "-q", "hi", "--model", "echo-named", "--backend", "echo", site=echo_site)
    assert result.returncode == 1
    assert "Model 'echo-named' is registered by a plugin, but its files are missing" in result.stderr


def test_eval_refuses_optimizers_outside_compare(echo_site):
    result = run_trio(
        "eval", "frame-count", "--model", "echo-named", "--backend", "echo", "--optimizers", "halve", site=echo_site
    )
    assert result.returncode == 1 and "from --compare" in result.stderr
