"""`trio watch`: the watch engine from the command line, for people (a status board) and for pipes (JSON Lines)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli import run_trio
from tests.watch.conftest import APPEARS_AT, ORANGE

TINY = ("--model", "trio-tiny", "--fps", "4")


def test_json_lines_are_the_only_output_and_alert_after_the_shape_appears(appears, tmp_path):
    snapshots = tmp_path / "snaps"
    result = run_trio(
        "watch", str(appears), "-w", ORANGE, *TINY, "--filter", "dedup.enabled=false", "--json",
        "--snapshots", str(snapshots), check=True,
    )  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is one JSON event
    assert events[0]["type"] == "started" and events[-1]["type"] == "ended"
    assert events[-1]["frames_analysed"] == 16 and events[-1]["reason"] == "source ended"
    alerts = [event for event in events if event["type"] == "alert"]
    assert alerts and alerts[0]["pts"] >= APPEARS_AT
    assert all(not event["yes"] for event in events if event["type"] == "result" and event["pts"] < APPEARS_AT)
    picture = Path(alerts[0]["snapshot"])
    assert picture.parent == snapshots and picture.read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_people_see_alerts_and_a_summary(appears):
    result = run_trio("watch", str(appears), "-w", ORANGE, *TINY, "--no-sound", check=True)
    lines = result.stdout.splitlines()
    assert any(line.startswith("ALERT") and "is-there-an-orange-square" in line for line in lines)
    # The default dedup filter gates the repeated empty frames: they cost no inference.
    assert lines[-1].startswith("16 frames seen, ") and " gated, " in lines[-1] and lines[-1].endswith("(source ended)")


def test_bad_input_is_one_sentence_and_a_non_zero_exit(tmp_path):
    missing = run_trio("watch", str(tmp_path / "nope.mp4"), "-w", ORANGE, "--model", "trio-tiny", "--json")
    assert missing.returncode == 1 and missing.stdout == ""  # refused before any model loads
    assert missing.stderr.strip() == f"Error: '{tmp_path / 'nope.mp4'}' does not exist: check the path."
    scheme = run_trio("watch", "rtps://127.0.0.1/cam", "-w", ORANGE, "--model", "trio-tiny")
    assert scheme.returncode == 1 and "Traceback" not in scheme.stderr
    assert len(scheme.stderr.strip().splitlines()) == 1 and "did you mean rtsp://?" in scheme.stderr
    zero = run_trio("watch", "x.mp4", "-w", ORANGE, "--confirm", "0")
    assert zero.returncode == 2 and "--confirm" in zero.stderr


def test_ctrl_c_ends_the_watch_with_a_summary(appears):
    """SIGINT (what Ctrl-C sends) while a realtime watch runs: it stops cleanly, with the ended event last."""
    trio = Path(sys.executable).with_name("trio")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIO_")}
    process = subprocess.Popen(
        [str(trio), "watch", str(appears), "-w", ORANGE, *TINY, "--realtime", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = [process.stdout.readline()]
    while json.loads(lines[-1])["type"] != "result":
        lines.append(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    lines += out.splitlines()
    ended = json.loads(lines[-1])
    assert process.returncode == 130  # as a shell reports a command Ctrl-C ended
    assert ended["type"] == "ended" and ended["reason"] == "interrupted" and ended["frames_analysed"] < 16


def test_max_side_auto_measures_and_says_what_it_picked(appears):
    roomy = run_trio("watch", str(appears), "-w", ORANGE, *TINY, "--json", "--max-side", "auto", "--target-ms", "60000")
    assert roomy.returncode == 0, roomy.stderr
    assert "--max-side auto: 1344 px (" in roomy.stderr  # every side fits a minute
    assert json.loads(roomy.stdout.splitlines()[0])["settings"]["max_side"] == 1344
    tight = run_trio("watch", str(appears), "-w", ORANGE, *TINY, "--json", "--max-side", "auto", "--target-ms", "1")
    assert "--max-side auto: even 224 px takes " in tight.stderr  # nothing fits a millisecond: the smallest
    assert json.loads(tight.stdout.splitlines()[0])["settings"]["max_side"] == 224
    refused = run_trio("analyze", str(appears), "-q", ORANGE, "--max-side", "auto")
    assert refused.returncode == 2 and "--max-side auto is for trio watch, webcam and cam" in refused.stderr


def test_a_camera_that_is_not_there_is_one_sentence_and_a_non_zero_exit():
    from trio_core.testing import free_port

    port = free_port()
    result = run_trio("watch", f"rtsp://admin:pw@127.0.0.1:{port}/stream", "-w", ORANGE, *TINY)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Nothing is listening at 127.0.0.1:{port} (connection refused): check the address and the port."
    )
