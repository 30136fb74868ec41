"""The plugin tutorial in docs/plugins.md builds a plugin that works as the page says.

The tutorial's files are taken from the page (each code block after a ``<!-- file: PATH -->``
line), installed as a distribution without pip (the module next to a dist-info folder with
the entry point its pyproject.toml declares), and used through the ``trio`` command: the
``folder://`` source reads numbered images in order, and the ``night_gate`` filter drops
the dark ones.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_trio
from tests.plugins.tutorials import install_without_pip, tomllib, tutorial_files

# snap_1.png .. snap_12.png: frames 5 to 8 (positions 4 to 7) are dark.
SNAPSHOTS = 12
DARK = range(5, 9)


@pytest.fixture
def night_site(echo_site) -> Path:
    """The echo plugin and the tutorial's plugin, installed side by side in one folder."""
    install_without_pip("trio_night_gate", echo_site)
    return echo_site


@pytest.fixture
def snapshots(tmp_path) -> Path:
    """A folder of numbered PNG snapshots whose grey level says their number; 5 to 8 are dark."""
    from PIL import Image

    folder = tmp_path / "porch"
    folder.mkdir()
    for number in range(1, SNAPSHOTS + 1):
        level = 5 if number in DARK else 100 + 10 * number
        Image.fromarray(np.full((48, 64, 3), level, dtype=np.uint8)).save(folder / f"snap_{number}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_tutorial_pyproject_declares_the_module_as_a_trio_plugin():
    files = tutorial_files("trio_night_gate")
    assert set(files) == {"pyproject.toml", "trio_night_gate.py"}
    pyproject = tomllib.loads(files["pyproject.toml"])
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert pyproject["project"]["entry-points"]["trio"] == {"night_gate": "trio_night_gate"}
    assert "trio-core>=0.1.0" in pyproject["project"]["dependencies"]


def test_installed_tutorial_plugin_is_listed_with_its_filter_source_and_command(night_site):
    report = json.loads(run_trio("plugins", "--json", site=night_site, check=True).stdout)
    plugin = next(plugin for plugin in report if plugin["name"] == "night_gate")
    assert (plugin["distribution"], plugin["version"], plugin["default"]) == ("trio-night-gate", "0.1.0", False)
    assert plugin["hooks"] == ["register_commands", "register_frame_filters", "register_frame_sources"]
    assert plugin["registers"] == {
        "frame source": [{"name": "folder", "schemes": ["folder"]}],
        "frame filter": [
            {
                "name": "night_gate",
                "settings": {"enabled": True, "min_brightness": 0.1},
                "summary": "Drops frames too dark to see.",
            }
        ],
    }
    assert "brightness" in run_trio("--help", site=night_site, check=True).stdout


def test_folder_source_reads_images_in_number_order_with_timestamps(night_site, snapshots):
    code = (
        "import sys\n"
        "from trio_core.sources import read_frames\n"
        "for frame in read_frames(sys.argv[1]):\n"
        "    print(frame.index, frame.timestamp, int(frame.image.mean()), frame.image.shape)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIO_")}
    env["PYTHONPATH"] = str(night_site)
    result = subprocess.run(
        [sys.executable, "-c", code, f"folder://{snapshots}"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split(" ", 3) for line in result.stdout.splitlines()]
    assert [int(index) for index, *_ in rows] == list(range(SNAPSHOTS))
    assert [float(timestamp) for _, timestamp, *_ in rows] == [float(i) for i in range(SNAPSHOTS)]
    levels = [int(level) for _, _, level, _ in rows]
    assert levels == [5 if number in DARK else 100 + 10 * number for number in range(1, SNAPSHOTS + 1)]
    assert {shape for *_, shape in rows} == {"(48, 64, 3)"}


def test_night_gate_drops_dark_frames_before_the_model_sees_them(night_site, snapshots, echo_model):
    result = run_trio(
        "analyze",
        f"folder://{snapshots}",
        "-q",
        "who came by?",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        "--json",
        site=night_site,
        check=True,
    )
    answer = json.loads(result.stdout)
    bright = SNAPSHOTS - len(DARK)
    assert answer["text"] == f"I saw {bright} frames and you asked: who came by?"
    assert answer["metrics"]["frames_in"] == SNAPSHOTS
    assert answer["metrics"]["frames_used"] == bright
    # Installed plugins' filters run before the built-in dedup; each filter that ran is one step.
    assert answer["metrics"]["frame_filter_steps"] == [
        {"filter": "night_gate", "before": SNAPSHOTS, "after": bright},
        {"filter": "dedup", "before": bright, "after": bright},
    ]


def test_night_gate_is_set_with_filter_flags_or_the_environment_like_dedup(night_site, snapshots, echo_model):
    args = ("analyze", f"folder://{snapshots}", "-q", "hi", "--model", str(echo_model), "--backend", "echo", "--json")
    off = ("--filter", "night_gate.min_brightness=0", "--filter", "dedup.threshold=0")
    answer = json.loads(run_trio(*args, *off, site=night_site, check=True).stdout)
    assert answer["metrics"]["frames_used"] == SNAPSHOTS
    assert answer["metrics"]["frame_filter_steps"] == []
    answer = json.loads(run_trio(*args, "--filter", "night_gate.enabled=false", site=night_site, check=True).stdout)
    assert [step["filter"] for step in answer["metrics"]["frame_filter_steps"]] == ["dedup"]

    # Brightness is the grey level / 255: at 0.55, snapshots 1 to 4 (110..140) go dark too and 9 to 12 (190..220) stay.
    strict = {"TRIO_FILTER_SETTINGS": '{"night_gate": {"min_brightness": 0.55}}'}
    answer = json.loads(run_trio(*args, site=night_site, env=strict, check=True).stdout)
    assert answer["metrics"]["frames_used"] == 4
    # A flag beats the environment, setting by setting.
    answer = json.loads(
        run_trio(*args, "--filter", "night_gate.min_brightness=0.1", site=night_site, env=strict, check=True).stdout
    )
    assert answer["metrics"]["frames_used"] == SNAPSHOTS - len(DARK)


@pytest.mark.parametrize(
    ("flags", "env", "target", "message"),
    [
        (
            ("--filter", "night_gate.min_brightness=0.99"),
            {},
            "{snapshots}",
            "Error: The night_gate filter dropped every frame of folder://{snapshots}: "
            "nothing is left to ask about, so turn that filter off or loosen it.",
        ),
        (
            ("--filter", "night_gate.min_brightness=dim"),
            {},
            "{snapshots}",
            "Error: --filter night_gate.min_brightness: Input should be a valid number, unable to parse string as a "
            "number (settings of 'night_gate': enabled, min_brightness).",
        ),
        (
            (),
            {"TRIO_FILTER_SETTINGS": '{"night_gate": {"min_brightnes": 0.2}}'},
            "{snapshots}",
            "Error: --filter night_gate.min_brightnes: Extra inputs are not permitted "
            "(settings of 'night_gate': enabled, min_brightness).",
        ),
        (
            (),
            {},
            "{snapshots}/missing",
            "Error: 'folder://{snapshots}/missing' is not a directory: "
            "write folder:// followed by the path of a folder of images.",
        ),
        (
            (),
            {"TRIO_PLUGINS": "echo"},
            "{snapshots}",
            "Error: No frame source called 'folder' is installed (installed: array, fake, file, http, stream, webcam); "
            "install the plugin that provides it.",
        ),
    ],
)
def test_tutorial_errors_are_one_sentence(night_site, snapshots, echo_model, flags, env, target, message):
    result = run_trio(
        "analyze",
        "folder://" + target.format(snapshots=snapshots),
        "-q",
        "hi",
        "--model",
        str(echo_model),
        "--backend",
        "echo",
        *flags,
        site=night_site,
        env=env,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == message.format(snapshots=snapshots)


def test_brightness_command_shows_what_the_gate_keeps(night_site, snapshots):
    lines = run_trio("brightness", f"folder://{snapshots}", site=night_site, check=True).stdout.splitlines()
    assert len(lines) == SNAPSHOTS
    dropped = [position for position, line in enumerate(lines) if line.endswith("dropped")]
    assert dropped == [number - 1 for number in DARK]
    assert lines[0].split() == ["0.00", "s", "frame", "0", "brightness", f"{110 / 255:.3f}", "kept"]

    # It reads the gate's settings as the filter does: at 0.55 the first four snapshots are dropped too.
    strict = run_trio(
        "brightness", f"folder://{snapshots}", "--filter", "night_gate.min_brightness=0.55", site=night_site, check=True
    )
    dropped = [position for position, line in enumerate(strict.stdout.splitlines()) if line.endswith("dropped")]
    assert dropped == list(range(8))
