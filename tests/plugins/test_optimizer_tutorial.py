"""The optimizer tutorial in docs/plugins.md (trio-opt-stride) builds an optimizer that works as the page says.

Its files are taken from the page and installed without pip; then its own tests run (on the
``trio_checkpoint`` fixture trio-core ships), and the commands the page shows give what it
says they give.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.cli import run_trio
from tests.plugins.tutorials import DOCS, install_without_pip, tutorial_files
from trio_model_tiny.plugin import DEMO

PAGE = DOCS.read_text()


@pytest.fixture(scope="module")
def stride_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("stride-site")
    install_without_pip("trio_opt_stride", site)
    return site


def test_the_descriptor_needs_only_trio_core_and_the_torch_code_is_an_extra():
    files = tutorial_files("trio_opt_stride")
    assert set(files) == {
        "pyproject.toml",
        "src/trio_opt_stride/__init__.py",
        "src/trio_opt_stride/torch.py",
        "tests/test_stride.py",
    }
    from tests.plugins.tutorials import tomllib

    project = tomllib.loads(files["pyproject.toml"])["project"]
    assert project["dependencies"] == ["trio-core>=0.1.0"]
    assert project["optional-dependencies"] == {"torch": ["trio-backend-torch>=0.1.0"]}
    assert project["entry-points"]["trio"] == {"stride": "trio_opt_stride"}


def test_its_own_tests_pass_on_the_trio_checkpoint_fixture(stride_site, tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_stride.py").write_text(tutorial_files("trio_opt_stride")["tests/test_stride.py"])
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIO_")}
    env.update(PYTHONPATH=str(stride_site), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout


def test_it_is_listed_with_the_extra_its_backend_needs(stride_site):
    report = json.loads(run_trio("plugins", "--json", site=stride_site, check=True).stdout)
    (stride,) = next(plugin for plugin in report if plugin["name"] == "stride")["registers"]["optimizer"]
    assert stride["backends"] == ["torch"] and stride["settings"] == {"every": 2}
    assert stride["extras"] == {"torch": "trio-opt-stride[torch]"} and stride["ready"] == {"torch": True}
    listing = "optimizer: stride [qwen2_5_vl, qwen2_vl] (every=2) on torch (trio-opt-stride[torch] installed)"
    assert listing in run_trio("plugins", site=stride_site, check=True).stdout
    assert listing in PAGE


def test_the_commands_on_the_page_answer_as_shown(stride_site):
    image = str(DEMO / "shapes.png")
    asked = run_trio(
        "analyze", image, "-q", "Is there a red circle?", "--model", "trio-tiny", "--optimizers", "stride",
        site=stride_site, check=True,
    )  # fmt: skip
    assert asked.stdout.strip() == "yes"
    assert "| 256 visual tokens -> 128 |" in asked.stderr
    refused = run_trio(
        "analyze", image, "-q", "?", "--model", "trio-tiny", "--optimizers", "stride", "--opt", "stride.every=0",
        site=stride_site,
    )  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.strip() in PAGE


def test_its_bench_compares_with_no_optimizer_in_one_run(stride_site, trio_checkpoint):
    model = trio_checkpoint("qwen2_5_vl")
    result = run_trio(
        "bench", "stride", "--model", str(model), "--runs", "1", "--size", "112", site=stride_site, check=True
    )
    rows = {line.split("  ")[0]: line.split() for line in result.stdout.splitlines()}
    assert rows["baseline"][1:4] == ["16", "of", "16"]
    assert rows["stride every=2"][2:5] == ["8", "of", "16"] and rows["stride every=4"][2:5] == ["4", "of", "16"]
