"""`pip install` of trio-core and the three optimizers, no extras, brings no ML framework.

In a fresh venv, ``pip install ./trio_core ./trio_opt_tome ./trio_opt_kvreuse ./trio_opt_fastv``
installs no torch, transformers or mlx, and ``trio plugins`` lists the three optimizers with
the backends they support and the extra each backend needs.

Offline, from the checkout: the new venv sees the dev venv's third-party packages (through a
folder of links, added by a .pth file) except the ML frameworks, what only they need, and the
trio distributions, and pip runs with ``--no-index`` and no configuration. So pip can satisfy a
requirement only with what is visible: a requirement (without extras) on torch, transformers
or another framework makes the install itself fail, which is the first thing asserted.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = ("tome", "kvreuse", "fastv")
INSTALLED = ("trio_core", *(f"trio_opt_{name}" for name in OPTIMIZERS))
FRAMEWORKS = ("torch", "torchvision", "transformers", "mlx", "mlx_vlm")
# Distributions the new venv must not see: the frameworks, what comes only with them (CUDA
# libraries, tokenizers, safetensors), the trio distributions themselves (installed from the
# checkout instead) and the installer the venv has its own copy of.
HIDDEN = re.compile(
    r"^(torch|torchvision|torchaudio|triton|transformers|tokenizers|safetensors|accelerate|mlx(-.*)?"
    r"|nvidia-.*|cuda-.*|trio-(core|backend-.*|opt-.*|model-.*)|pip|setuptools)$"
)
# The name of a distribution that must not be installed in the new venv.
FRAMEWORK_DISTRIBUTION = re.compile(r"^(torch|transformers|mlx|triton|nvidia)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# For the MLX backend's install: only torch and what comes only with it are hidden (mlx-vlm needs transformers).
TORCH_ONLY = re.compile(
    r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*|trio-(core|backend-.*|opt-.*|model-.*)|pip|setuptools)$"
)


def visible_site(tmp_path: Path, hidden_names: re.Pattern = HIDDEN) -> Path:
    """A folder of links to every entry of the dev venv's site-packages but the hidden ones."""
    site = Path(sysconfig.get_paths()["purelib"])
    hidden = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        if hidden_names.match(normalize(dist.metadata["Name"])):
            hidden |= {Path(file).parts[0] for file in dist.files or ()}  # its modules and its .dist-info
    visible = tmp_path / "dev-site-packages"
    visible.mkdir()
    for entry in site.iterdir():
        name = entry.name
        if (
            name in hidden
            or name == "__pycache__"
            or name.endswith(".pth")
            or name.startswith(("__editable__", "_trio"))
        ):
            continue
        (visible / name).symlink_to(entry)
    return visible


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """No pip configuration (its find-links and index URLs), no PYTHONPATH, no hub."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("TRIO_PLUGINS", None)  # every installed plugin loads
    return env


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    return new_venv(tmp_path_factory.mktemp("no-frameworks"), HIDDEN)


def new_venv(tmp_path: Path, hidden_names: re.Pattern) -> tuple[Path, dict[str, str]]:
    """A fresh venv that sees the dev venv's packages but the hidden ones, and an environment to run it in."""
    target = tmp_path / "venv"
    try:
        venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
    except Exception as exc:  # no ensurepip, no venv module support, ...
        pytest.skip(f"cannot create a venv here: {type(exc).__name__}: {exc}")
    python = target / "bin" / "python"
    purelib = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(purelib, "trio-dev-packages.pth").write_text(f"{visible_site(tmp_path, hidden_names)}\n")
    return target, clean_environment(tmp_path)


def test_pip_install_of_core_and_optimizers_brings_no_framework(fresh_venv):
    target, env = fresh_venv
    python, pip, trio = (str(target / "bin" / name) for name in ("python", "pip", "trio"))

    probe = run(python, "-c", "import hatchling, pydantic, fastapi, av")
    assert probe.returncode == 0, (
        "the new venv does not see the dev packages the install needs (hatchling builds the wheels): "
        f"pip install -r requirements-dev.txt in the dev venv first.\n{probe.stderr}"
    )

    install = run(
        pip,
        "install",
        "--no-index",
        "--no-build-isolation",
        *(f"./{folder}" for folder in INSTALLED),
        cwd=ROOT,
        env=env,
    )
    errors = "\n".join(line for line in install.stderr.splitlines() if line.startswith("ERROR"))
    assert install.returncode == 0, (
        f"pip install {' '.join(f'./{folder}' for folder in INSTALLED)} (no extras) failed offline:\n{errors}\n"
        "one of them requires, without an extra, something beyond trio-core's own requirements (torch, "
        "transformers, trio-backend-torch, ...): move it into an extra named for its backend.\n"
        f"pip's output ends:\n{install.stderr[-2000:]}"
    )

    imports = run(
        python,
        "-c",
        "import importlib, json\n"
        "found = {}\n"
        f"for name in {FRAMEWORKS!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        found[name] = 'imported'\n"
        "    except ImportError as exc:\n"
        "        found[name] = None\n"
        "print(json.dumps(found))",
        env=env,
    )
    importable = [name for name, result in json.loads(imports.stdout).items() if result]
    assert not importable, f"the new venv imports {', '.join(importable)}: the install brought a framework"

    listed = json.loads(run(pip, "list", "--format", "json", env=env).stdout)
    names = {normalize(item["name"]) for item in listed}
    frameworks = sorted(name for name in names if FRAMEWORK_DISTRIBUTION.match(name))
    assert not frameworks, f"pip list in the new venv shows {', '.join(frameworks)}"
    assert {"trio-core", *(f"trio-opt-{name}" for name in OPTIMIZERS)} <= names
    assert "trio-backend-torch" not in names, "installing the optimizers without extras brought trio-backend-torch"

    shown = run(trio, "plugins", "--json", env=env)
    assert shown.returncode == 0, f"trio plugins --json failed in the new venv:\n{shown.stderr[-3000:]}"
    report = json.loads(shown.stdout)
    broken = {plugin["name"]: plugin["error"] for plugin in report if "error" in plugin}
    assert not broken, f"plugins that did not load without their extras: {broken}"
    optimizers = {
        item["name"]: (plugin, item) for plugin in report for item in plugin["registers"].get("optimizer", [])
    }
    assert set(OPTIMIZERS) <= set(optimizers), f"trio plugins lists the optimizers {sorted(optimizers)}"
    for name in OPTIMIZERS:
        plugin, item = optimizers[name]
        distribution = f"trio-opt-{name}"
        assert plugin["distribution"] == distribution
        assert item["backends"], f"{name} lists no backend it supports"
        assert item.get("extras") == {backend: f"{distribution}[{backend}]" for backend in item["backends"]}, (
            f"{name}'s entry in trio plugins --json should say, per backend, the extra it needs: "
            f"{json.dumps(item, indent=1)}"
        )

    text = run(trio, "plugins", env=env)
    assert text.returncode == 0, text.stderr[-3000:]
    for name in OPTIMIZERS:
        for backend in optimizers[name][1]["backends"]:
            assert f"trio-opt-{name}[{backend}]" in text.stdout, (
                f"trio plugins does not say which extra {name} needs on {backend}:\n{text.stdout}"
            )


def test_pip_install_of_the_mlx_backend_brings_no_torch_and_answers(tmp_path):
    """trio-backend-mlx installs and answers with torch out of sight: mlx-vlm's processors are numpy ports."""
    target, env = new_venv(tmp_path, TORCH_ONLY)
    python, pip = str(target / "bin" / "python"), str(target / "bin" / "pip")
    install = run(
        pip, "install", "--no-index", "--no-build-isolation", "./trio_core", "./trio_backend_mlx", cwd=ROOT, env=env
    )
    assert install.returncode == 0, (
        "pip install ./trio_core ./trio_backend_mlx failed offline with torch hidden: something it requires needs "
        f"torch.\n{install.stderr[-2000:]}"
    )
    names = {normalize(item["name"]) for item in json.loads(run(pip, "list", "--format", "json", env=env).stdout)}
    assert not {"torch", "torchvision", "trio-backend-torch"} & names
    weights = ROOT / "trio_model_tiny" / "src" / "trio_model_tiny" / "weights"
    clip = ROOT / "trio_model_tiny" / "src" / "trio_model_tiny" / "demo" / "moving.mp4"
    answer = run(
        python,
        "-c",
        "import sys\n"
        "from trio_core import TrioCore\n"
        f"engine = TrioCore(model={str(weights)!r}, backend='mlx', fps=4).load()\n"
        f"print(engine.analyze_video({str(clip)!r}, 'Is there an orange square?').text)\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')",
        env=env,
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    assert answer.stdout.split() == ["yes", "no", "torch"], answer.stdout


def test_a_camera_box_with_only_the_remote_backend_has_no_framework_and_answers(tmp_path):
    """trio-core and trio-backend-openai alone (no torch, transformers or mlx): the model runs on a trio server."""
    from tests.server.conftest import running_server

    target, env = new_venv(tmp_path, HIDDEN)
    python, pip = str(target / "bin" / "python"), str(target / "bin" / "pip")
    install = run(
        pip, "install", "--no-index", "--no-build-isolation", "./trio_core", "./trio_backend_openai", cwd=ROOT, env=env
    )
    assert install.returncode == 0, f"pip install ./trio_core ./trio_backend_openai failed:\n{install.stderr[-2000:]}"
    names = {normalize(item["name"]) for item in json.loads(run(pip, "list", "--format", "json", env=env).stdout)}
    assert not {"torch", "transformers", "mlx", "trio-backend-torch"} & names
    clip = ROOT / "trio_model_tiny" / "src" / "trio_model_tiny" / "demo" / "moving.mp4"
    with running_server("--model", "trio-tiny") as (url, _):
        answer = run(
            python,
            "-c",
            "import sys\n"
            "from trio_core import TrioCore\n"
            f"engine = TrioCore(model='trio-tiny', endpoints=[{url + '/v1'!r}]).load()\n"
            f"print(engine.analyze_video({str(clip)!r}, 'Is there an orange square?').text)\n"
            "print(sorted(name for name in ('torch', 'transformers', 'mlx') if name in sys.modules) or 'none')",
            env=env,
        )
    assert answer.returncode == 0, answer.stderr[-3000:]
    assert answer.stdout.split() == ["yes", "none"], answer.stdout
