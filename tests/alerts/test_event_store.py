"""The event store: every alert on disk with its snapshot before it is emitted, readable after any crash."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.alerts.conftest import ORANGE, STORM
from tests.cli import run_trio
from trio_core.watch.alerts import Alerts
from trio_core.watch.event_store import EventStore


def test_a_watch_keeps_each_alert_with_its_snapshot_and_completes_it_when_it_clears(engine, storm, tmp_path):
    store = EventStore(tmp_path / "events")
    alerts = Alerts(store)
    events = list(engine.watch(storm, [ORANGE], name="porch", alerts=alerts, **STORM))
    alerts.close()
    emitted = [event.to_dict() for event in events if event.type == "alert"]
    cleared = [event.to_dict() for event in events if event.type == "cleared"]
    assert len(emitted) == 40 and len(cleared) == 40
    stored = store.query(limit=None)
    assert [event["id"] for event in reversed(stored)] == [alert["event_id"] for alert in emitted]
    first = store.get(emitted[0]["event_id"])
    assert first["watch"] == "porch" and first["condition"] == "is-there-an-orange-square"
    assert first["question"] == ORANGE and first["answer"] == "yes" and first["probability"] > 0.5
    assert first["cleared"] is not None and first["duration_s"] == 0.25 and first["end_pts"] == 0.5
    assert store.snapshot(first["id"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG, beside the database
    assert emitted[0]["snapshot"] == first["snapshot"]
    # Filters: by watch, condition and time.
    assert store.query(watch="elsewhere") == [] and len(store.query(condition="is-there-an-orange-square")) == 40
    assert store.query(since=time.time() + 60) == [] and len(store.query(until=time.time() + 60, limit=5)) == 5


def test_credentials_in_the_source_are_masked_in_the_store(engine, storm, tmp_path):
    store = EventStore(tmp_path)
    watch = engine.watch(storm, [ORANGE], alerts=Alerts(store), **STORM)
    # What events name the source by (the server's label for a camera URL with its password, say).
    watch.source = "rtsp://admin:hunter2@127.0.0.1:8554/door"
    next(event for event in watch if event.type == "alert")
    watch.stop()
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("events.db*"))  # the WAL too
    assert b"hunter2" not in on_disk and b"rtsp://***@127.0.0.1:8554/door" in on_disk
    assert store.query()[0]["source"] == "rtsp://***@127.0.0.1:8554/door"


def test_retention_prunes_by_age_then_by_snapshot_size(engine, storm, tmp_path):
    store = EventStore(tmp_path)
    list(engine.watch(storm, [ORANGE], alerts=Alerts(store), **STORM))
    total = sum(event["snapshot_bytes"] for event in store.query(limit=None))
    one = store.query(limit=1)[0]["snapshot_bytes"]
    # By size: the oldest pictures go until the rest fit; their events stay.
    pruned = store.prune(max_snapshots_mb=(total - 10 * one) / 1e6)
    assert pruned.events == 0 and pruned.snapshots >= 10
    kept = store.query(limit=None)
    assert len(kept) == 40 and sum(event["snapshot_bytes"] for event in kept) <= total - 10 * one
    assert kept[-1]["snapshot"] is None and kept[0]["snapshot"] is not None  # the oldest lost theirs
    # By age: an hour from now, an event 30 minutes old goes, snapshot and all.
    pruned = store.prune(older_than_s=1800, now=time.time() + 3600)
    assert pruned.events == 40 and store.count() == 0
    assert not any((tmp_path / "snapshots").rglob("*.jpg"))


def test_trio_events_lists_shows_exports_and_prunes(engine, storm, tmp_path):
    list(engine.watch(storm, [ORANGE], name="porch", alerts=Alerts(EventStore(tmp_path)), **STORM))
    where = ("--events-dir", str(tmp_path))
    listed = run_trio("events", "list", *where, "--json", "-n", "3", check=True)
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["id"] for line in lines] == [40, 39, 38] and lines[0]["watch"] == "porch"
    shown = json.loads(run_trio("events", "show", "40", *where, "--json", check=True).stdout)
    assert Path(shown["snapshot_path"]).is_file() and shown["condition"] == "is-there-an-orange-square"
    out = tmp_path / "export.csv"
    run_trio("events", "export", *where, "--format", "csv", "-o", str(out), "--snapshots", str(tmp_path / "pics"),
             "--since", "1h", check=True)  # fmt: skip
    assert len(out.read_text().splitlines()) == 41 and len(list((tmp_path / "pics").glob("*.jpg"))) == 40
    assert run_trio("events", "list", *where, "--watch", "nobody").stderr.strip() == "No events."
    missing = run_trio("events", "show", "999", *where)
    assert missing.returncode == 1 and "No event 999" in missing.stderr
    bad = run_trio("events", "list", *where, "--since", "yesterday")
    assert bad.returncode == 1 and "is not a time" in bad.stderr and "Traceback" not in bad.stderr
    pruned = run_trio("events", "prune", *where, "--older-than", "0s", check=True)
    assert pruned.stdout.startswith("Pruned 40 events, 40 snapshots")


def test_kill_9_mid_storm_loses_no_emitted_alert_and_leaves_a_readable_database(storm, tmp_path):
    """The process is killed while alerts pour in: every alert it printed is in the store, and SQLite opens it."""
    trio = Path(sys.executable).with_name("trio")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIO_")}
    process = subprocess.Popen(
        [str(trio), "watch", str(storm), "-w", ORANGE, "--model", "trio-tiny", "--fps", "4", "--confirm", "1",
         "--clear", "1", "--cooldown", "0", "--filter", "dedup.enabled=false", "--json", "--events-dir",
         str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    emitted = []
    for line in process.stdout:
        event = json.loads(line)
        if event["type"] == "alert":
            emitted.append(event["event_id"])
        if len(emitted) == 12:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(30)
    db = sqlite3.connect(tmp_path / "events.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM events")}
    assert set(emitted) <= stored
    store = EventStore(tmp_path)  # and trio itself reads it, snapshots included
    assert all(store.snapshot(event_id) is not None for event_id in emitted)
