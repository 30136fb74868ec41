"""Shutdowns and endings lose nothing: SIGINT and SIGTERM end a watch cleanly, an alert open when its watch ends is
closed (also after a kill -9, the next time the store opens), pruning and a full disk leave nothing behind."""

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.cli import run_trio
from tests.media import write_clip
from tests.server.conftest import running_server
from tests.watch.conftest import ORANGE
from trio_model_tiny.watch_bench import demo_frames

# A test pattern FFmpeg makes at 10 frames a second, at that pace: a watch of it runs until it is signalled.
PATTERN = "webcam://testsrc2=size=160x120:rate=10,realtime?format=lavfi"
TINY = ("--model", "trio-tiny", "--max-tokens", "4", "--fps", "4")
# The square moves in and out of view: an alert that started stays on until the watch ends.
STAYS = ("--clear", "1000", "--filter", "dedup.enabled=false")


@pytest.fixture(scope="module")
def lingers(tmp_path_factory):
    """1 s of the empty background, then the orange square for 12 s (4 frames a second): an alert that lasts."""
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    return write_clip(tmp_path_factory.mktemp("shutdown") / "lingers.mp4", [empty] * 4 + frames * 6, fps=4)


def start_trio(*args: str) -> subprocess.Popen:
    """``trio <args>`` as a user starts it in a terminal: Ctrl-C's SIGINT not ignored (as a background shell's
    children have it), JSON Lines read from its stdout; killed if a test waits on it too long."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIO_")}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("trio")), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    watchdog = threading.Timer(120, process.kill)
    watchdog.daemon = True
    watchdog.start()
    return process


def read_until(process: subprocess.Popen, until) -> list[dict]:
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if until(events[-1]):
            return events
    raise AssertionError(f"trio ended ({process.wait()}) first:\n{process.stderr.read()}")


def finish(process: subprocess.Popen, events: list[dict]) -> tuple[list[dict], str]:
    out, err = process.communicate(timeout=60)
    return events + [json.loads(line) for line in out.splitlines()], err


def stored(events_dir: Path, what: str = "list") -> list[dict]:
    """``trio events list`` (or ``runs``) as JSON: what the store says, read as a user reads it."""
    listed = run_trio("events", what, "--json", "--events-dir", str(events_dir), check=True)
    return [json.loads(line) for line in listed.stdout.splitlines()]


@pytest.mark.parametrize(("sent", "status", "reason"), [(signal.SIGINT, 130, "interrupted"),
                                                        (signal.SIGTERM, 143, "terminated")])  # fmt: skip
def test_sigint_and_sigterm_end_a_live_watch_with_its_ended_event_and_their_exit_status(tmp_path, sent, status, reason):
    events_dir = tmp_path / "events"
    process = start_trio("watch", PATTERN, "-w", ORANGE, *TINY, "--json", "--name", "desk", "--events-dir",
                         str(events_dir))  # fmt: skip
    events = read_until(process, lambda event: event["type"] == "result")
    process.send_signal(sent)
    events, err = finish(process, events)
    assert process.returncode == status, err
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == reason and events[-1]["frames_analysed"] >= 1
    assert "Traceback" not in err
    (run,) = stored(events_dir, "runs")  # the store saw the watch end, and why
    assert run["watch"] == "desk" and run["reason"] == reason and run["ended"] is not None


def test_sigterm_closes_the_alert_that_was_open(lingers, tmp_path):
    events_dir = tmp_path / "events"
    process = start_trio("watch", str(lingers), "-w", ORANGE, *TINY, "--realtime", "--json", *STAYS,
                         "--events-dir", str(events_dir))  # fmt: skip
    events = read_until(process, lambda event: event["type"] == "alert")
    process.send_signal(signal.SIGTERM)
    events, err = finish(process, events)
    assert process.returncode == 143, err
    assert events[-1]["reason"] == "terminated" and not any(event["type"] == "cleared" for event in events)
    (alert,) = stored(events_dir)
    assert alert["id"] == next(event for event in events if event["type"] == "alert")["event_id"]
    assert alert["cleared"] is not None and alert["duration_s"] >= 0 and alert["end_reason"] == "watch ended"
    human = run_trio("events", "list", "--events-dir", str(events_dir), check=True).stdout
    assert "(watch ended)" in human and " open" not in human


def test_a_file_that_ends_while_alerting_closes_its_alert(appears, tmp_path):
    """The clip ends while its alert is on: the alert never cleared, the watch's end closes it."""
    events_dir = tmp_path / "events"
    result = run_trio("watch", str(appears), "-w", ORANGE, *TINY, "--json", *STAYS, "--events-dir", str(events_dir),
                      check=True)  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["reason"] == "source ended" and events[-1]["type"] == "ended"
    (alert,) = stored(events_dir)
    assert alert["cleared"] is not None and alert["end_reason"] == "watch ended"
    assert alert["duration_s"] == pytest.approx(events[-1]["pts"] - alert["start_pts"])  # in the source's seconds


def test_a_watch_that_ends_while_alerting_tells_its_sinks_the_alert_cleared(tiny_engine, appears, tmp_path):
    from trio_core.testing.loopback import WebhookReceiver
    from trio_core.watch.alerts import Alerts
    from trio_core.watch.event_store import EventStore

    receiver = WebhookReceiver()
    alerts = Alerts(EventStore(tmp_path / "events"))
    try:
        list(tiny_engine.watch(appears, [ORANGE], name="porch", fps=4, clear=1000, alerts=alerts,
                                 sinks=[receiver.url]))  # fmt: skip
        assert alerts.drain(20)
    finally:
        alerts.close()
        receiver.close()
    kinds = [(body["type"], body.get("reason")) for body in receiver.received]
    assert kinds == [("alert", None), ("cleared", "watch ended")]  # a Home Assistant sensor does not stay on


def test_a_watch_that_crashes_under_the_supervisor_closes_its_alert(tiny_engine, lingers, tmp_path):
    """The model fails in a way no watch expects (a bug, not a TrioError) while an alert is on: the supervisor
    restarts the watch, and the alert it left is closed, not ongoing for ever."""
    import contextlib

    from tests.watch.test_standing import wait_for
    from trio_core.watch.alerts import Alerts
    from trio_core.watch.event_store import EventStore
    from trio_core.watch.standing import Supervisor

    watches = tmp_path / "watches.toml"
    watches.write_text(f'[watches.porch]\nsource = "{lingers}"\nconditions = ["{ORANGE}"]\nfps = 4\nclear = 1000\n')
    answered = []

    @contextlib.contextmanager
    def turn():  # the model's turn, as the server's queue gives it: the 9th answer breaks
        answered.append(1)
        if len(answered) == 9:
            raise RuntimeError("the model broke")
        yield tiny_engine

    alerts = Alerts(EventStore(tmp_path / "events"))
    supervisor = Supervisor(watches, engine=lambda: tiny_engine, alerts=alerts, turn=turn)
    supervisor.start()
    try:
        wait_for(lambda: supervisor.watches["porch"].restarts >= 1)
    finally:
        supervisor.stop_all()
        alerts.close()
    store = EventStore(tmp_path / "events")
    first = store.query(limit=None)[-1]
    assert first["cleared"] is not None and first["end_reason"] == "watch ended"
    assert store.runs(watch="porch", limit=None)[-1]["reason"] == "error"


def test_the_alerts_of_a_killed_watch_are_closed_the_next_time_the_store_opens(lingers, tmp_path):
    events_dir = tmp_path / "events"
    process = start_trio("watch", str(lingers), "-w", ORANGE, *TINY, "--realtime", "--json", *STAYS,
                         "--events-dir", str(events_dir))  # fmt: skip
    alert = read_until(process, lambda event: event["type"] == "alert")[-1]
    process.kill()  # kill -9: nothing of trio runs after this
    process.communicate(timeout=30)
    (event,) = stored(events_dir)  # opening the store closes what the dead process left open
    assert event["id"] == alert["event_id"] and event["end_reason"] == "process died"
    assert event["cleared"] is not None and event["duration_s"] >= 0
    (run,) = stored(events_dir, "runs")
    assert run["reason"] == "process died" and run["ended"] is not None


def test_a_watch_another_machine_left_open_is_closed_once_it_has_been_silent_for_ten_minutes(tmp_path):
    """A store shared by machines (a container recreated under a new host name): a process there cannot be asked,
    so its run counts as dead once it has said nothing for 10 minutes, and not before."""
    from trio_core.watch.event_store import EventStore

    store = EventStore(tmp_path)
    now = time.time()
    with sqlite3.connect(tmp_path / "events.db") as db:  # as trio on the other machine left it
        for watch, seen in (("gone", now - 3600), ("busy", now - 5)):
            run = db.execute("INSERT INTO runs (watch, source, started, seen, owner) VALUES (?, 'cam', ?, ?, ?)",
                             (watch, now - 7200, seen, "another-machine:4242:")).lastrowid  # fmt: skip
            db.execute("INSERT INTO events (watch, condition, started, data, run_id) VALUES (?, 'door', ?, '{}', ?)",
                       (watch, now - 7000, run))  # fmt: skip
    store = EventStore(tmp_path)
    events = {event["watch"]: event for event in store.query()}
    assert events["gone"]["end_reason"] == "process died" and events["gone"]["duration_s"] == pytest.approx(3400, abs=1)
    assert events["busy"]["cleared"] is None  # still running over there, for all this store knows
    assert {run["watch"]: run["reason"] for run in store.runs()} == {"gone": "process died", "busy": None}


def test_trio_watch_config_ends_its_watches_on_sigterm(tmp_path):
    watches = tmp_path / "watches.toml"
    watches.write_text(f'[watches.yard]\nsource = "{PATTERN}"\nconditions = ["{ORANGE}"]\nfps = 4\n')
    events_dir = tmp_path / "events"
    process = start_trio("watch", "--config", str(watches), "--model", "trio-tiny", "--max-tokens", "4", "--json",
                         "--events-dir", str(events_dir))  # fmt: skip
    events = read_until(process, lambda event: event["type"] == "result")
    process.send_signal(signal.SIGTERM)
    events, err = finish(process, events)
    assert process.returncode == 143, err
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "terminated" and "Traceback" not in err
    (run,) = stored(events_dir, "runs")
    assert run["watch"] == "yard" and run["reason"] == "terminated"


def test_the_server_ends_its_watches_on_sigterm(tmp_path):
    from trio_core.watch.event_store import EventStore

    watches = tmp_path / "watches.toml"
    watches.write_text(f'[watches.yard]\nsource = "{PATTERN}"\nconditions = ["{ORANGE}"]\nfps = 4\n')
    events_dir = tmp_path / "events"
    with running_server("--model", "trio-tiny", "--watches", str(watches), "--events-dir", str(events_dir)) as (
        url,
        process,
    ):
        end = time.monotonic() + 60
        while time.monotonic() < end:
            (yard,) = httpx.get(url + "/v1/watch", timeout=10).json()["watches"]
            if yard["state"] == "running" and yard["frames"] >= 1:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the watch did not run: {yard}")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    (run,) = EventStore(events_dir).runs(watch="yard")
    assert run["reason"] == "terminated" and run["summary"]["frames_analysed"] >= 1, process.log.read_text()


def test_pruning_leaves_no_delivery_of_an_event_it_removed(tmp_path):
    from trio_core.watch.event_store import EventStore

    store = EventStore(tmp_path)
    alert = {"type": "alert", "watch": "porch", "t": "2026-01-01T00:00:00+00:00", "condition": "person", "pts": 1.0}
    store.record_alert(dict(alert), source="porch.mp4", question="Is someone there?", snapshot=b"\xff\xd8 jpeg",
                       sinks=["a-sink-that-never-came-back"])  # fmt: skip
    assert store.prune(older_than_s=86400).events == 1
    with sqlite3.connect(tmp_path / "events.db") as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


FULL_DISK = """
import json, resource, signal, sys
from trio_core.watch.event_store import EventStore

store = EventStore(sys.argv[1])
# Files may grow to 1 MB from here on; writing past that fails with EFBIG, as a full disk fails with ENOSPC.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
alert = {"type": "alert", "watch": "porch", "t": "2026-12-01T00:00:00+00:00", "condition": "person", "pts": 1.0}
try:
    store.record_alert(alert, source="porch.mp4", question="Is someone there?", snapshot=b"\\xff" * 2**21, sinks=[])
except OSError as error:
    print(json.dumps({"errno": error.errno}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_snapshot_the_disk_has_no_room_for_leaves_nothing_behind(tmp_path):
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert json.loads(result.stdout) == {"errno": errno.EFBIG}, result.stderr
    assert [path.name for path in (tmp_path / "snapshots").rglob("*") if path.is_file()] == []  # no .partial
    from trio_core.watch.event_store import EventStore

    assert EventStore(tmp_path).count() == 0  # and no row pointing at a picture that is not there
