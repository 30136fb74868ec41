"""The event store: every alert a watch raised, with its snapshot, and the deliveries still owed to sinks.

One SQLite database (``events.db``, WAL mode) and a ``snapshots/`` folder beside it, in the
per-user data folder (``platformdirs``) unless ``--events-dir`` / ``TRIO_EVENTS_DIR`` say
otherwise. An *event* is one alert of one condition: it is written when the alert starts
(its frame as a JPEG, its answer and probability) and completed when it clears (the end and
the duration). A *run* is one watch from its ``started`` to its ``ended`` event (why it
ended, its counts).

No event stays open for ever: when a watch ends while a condition is alerting, its open
events are completed with ``end_reason`` ``watch ended`` (and their sinks told they cleared);
a process that died without ending its watches (``kill -9``, a power cut) leaves runs with
no end, and the next process to open the store on that machine completes them and their
events with ``process died``, at the last moment the process was known alive.

Durability is the point: an alert is written (snapshot file synced, then the row committed
with ``synchronous=FULL``) *before* the watch emits it, in the same transaction as the
deliveries it owes its sinks (the outbox). A process killed at any moment leaves either the
alert with all its deliveries or nothing of it, and a database SQLite opens.

Every thread uses its own connection (SQLite's rule); a CLI and a server may share a folder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..credentials import masked
from ..errors import ConfigError

log = logging.getLogger("trio.events")

SCHEMA_VERSION = 2
SEEN_EVERY_S = 30.0  # how often a running watch says it is alive (when a dead process's events ended, to this)
SILENT_FOR_S = 600.0  # a run of another machine that said nothing for this long: its process died
MAX_AGE_DAYS = 30.0  # events older than this are pruned
MAX_SNAPSHOTS_MB = 2048.0  # beyond this total, the oldest snapshots are removed (their events stay)
DELIVERY_TTL_S = 24 * 3600.0  # a delivery not made in this long is given up

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    watch TEXT NOT NULL,
    condition TEXT NOT NULL,
    question TEXT,
    source TEXT,              -- credentials masked
    started REAL NOT NULL,    -- unix time of the alert
    start_pts REAL,           -- seconds into the source
    cleared REAL,             -- unix time it cleared; NULL while it lasts (or if the watch ended first)
    end_pts REAL,
    duration_s REAL,
    answer TEXT,
    probability REAL,
    snapshot TEXT,            -- the JPEG, relative to the store's folder
    snapshot_bytes INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL        -- the alert event as emitted (JSON)
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (started);
CREATE INDEX IF NOT EXISTS events_by_watch ON events (watch, condition, started);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,       -- the sink's key (a hash of its URL: the URL may hold a secret)
    event_id INTEGER,
    kind TEXT NOT NULL,       -- alert or cleared
    payload TEXT NOT NULL,    -- the event's JSON as the sink gets it
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    done REAL,                -- when it was delivered, given up or expired
    outcome TEXT,             -- delivered, rejected or expired
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sink, id) WHERE done IS NULL;
"""
# Each version's changes, applied in order to a database of an older version (one transaction each).
_MIGRATIONS = {
    2: [
        "ALTER TABLE events ADD COLUMN run_id INTEGER",  # the watch run that raised it
        "ALTER TABLE events ADD COLUMN end_reason TEXT",  # ended without clearing: watch ended, process died
        """CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            watch TEXT NOT NULL,
            source TEXT,              -- credentials masked
            started REAL NOT NULL,
            seen REAL NOT NULL,       -- the last time its process was known alive
            ended REAL,               -- NULL while it runs
            reason TEXT,              -- the ended event's (source ended, stopped, interrupted, terminated, ...)
            owner TEXT NOT NULL,      -- host:pid:start of the process that runs it
            data TEXT                 -- the ended event (JSON)
        )""",
        "CREATE INDEX IF NOT EXISTS runs_open ON runs (owner) WHERE ended IS NULL",
        "CREATE INDEX IF NOT EXISTS events_open ON events (run_id) WHERE cleared IS NULL",
    ],
}


def default_folder() -> Path:
    """``TRIO_EVENTS_DIR``, else ``events/`` in the per-user data folder (``~/.local/share/trio`` on Linux)."""
    configured = os.environ.get("TRIO_EVENTS_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_data_path("trio", appauthor=False) / "events"


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def parse_time(text: str, *, now: float | None = None) -> float:
    """A time for a filter: ISO 8601 (``2026-12-03T08:00``, UTC unless it says), or an age (``90s``, ``15m``, ``2h``,
    ``7d``) back from now."""
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if text and text[-1] in units:
        try:
            return (now if now is not None else time.time()) - float(text[:-1]) * units[text[-1]]
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"'{text}' is not a time: give ISO 8601 (2026-12-03T08:00) or an age (2h, 7d).") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@dataclass
class PendingDelivery:
    """A delivery the outbox still owes a sink: the oldest first, for each sink."""

    id: int
    event_id: int | None
    kind: str
    event: dict
    created: float
    attempts: int
    next_attempt: float


@dataclass
class Pruned:
    events: int = 0
    snapshots: int = 0
    snapshot_bytes: int = 0
    deliveries: int = 0

    def sentence(self) -> str:
        megabytes = self.snapshot_bytes / 1e6
        return (
            f"Pruned {self.events} events, {self.snapshots} snapshots ({megabytes:.1f} MB) "
            f"and {self.deliveries} finished deliveries."
        )


class EventStore:
    """The events of every watch in one folder; see the module's docstring for what is kept and when."""

    def __init__(
        self,
        folder: Path | str | None = None,
        *,
        max_age_days: float = MAX_AGE_DAYS,
        max_snapshots_mb: float = MAX_SNAPSHOTS_MB,
    ):
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.path = self.folder / "events.db"
        self.max_age_days = max_age_days
        self.max_snapshots_mb = max_snapshots_mb
        self._local = threading.local()
        try:
            (self.folder / "snapshots").mkdir(parents=True, exist_ok=True)
            self._db()
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(
                f"Cannot open the event store in {self.folder}: {error}; give a writable folder with --events-dir."
            ) from None
        try:
            self.end_abandoned_runs()
        except sqlite3.Error as error:  # a store this user may only read: listed as it is
            log.warning("Could not close the events of watches whose process died: %s", error)

    # Connections ---------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a committed alert survives a crash of the machine, too
            db.execute("PRAGMA foreign_keys=ON")
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                _migrate(db)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _write(self):
        return _Transaction(self._db())

    # Writing (the watch's thread) --------------------------------------------------------------

    def record_alert(
        self,
        event: dict,
        *,
        source: str,
        question: str | None,
        snapshot: bytes | None,
        sinks: list[str],
        run_id: int | None = None,
    ) -> int:
        """Write an alert (``event`` is its JSON; ``event_id`` and ``snapshot`` are added to it) with its
        snapshot, and one outbox delivery per sink key; the id. Returns once it is on disk. A write that fails
        (a full disk) leaves nothing of it: no row, no snapshot, no half-written file."""
        now = _when(event)
        written: Path | None = None
        try:
            with self._write() as db:
                cursor = db.execute(
                    "INSERT INTO events (watch, condition, question, source, started, start_pts, answer, probability,"
                    " data, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)",
                    (event["watch"], event["condition"], question, masked(source), now, event.get("pts"),
                     event.get("answer"), event.get("probability"), run_id),
                )  # fmt: skip
                event_id = cursor.lastrowid
                event["event_id"] = event_id
                if snapshot is not None:
                    written = self._write_snapshot(event_id, now, snapshot)
                    event["snapshot"] = str(written.relative_to(self.folder))
                    db.execute(
                        "UPDATE events SET snapshot = ?, snapshot_bytes = ? WHERE id = ?",
                        (event["snapshot"], len(snapshot), event_id),
                    )
                db.execute("UPDATE events SET data = ? WHERE id = ?", (json.dumps(event), event_id))
                self._enqueue(db, sinks, event_id, "alert", event, now)
        except BaseException:
            if written is not None:  # the row was rolled back: its picture goes too
                written.unlink(missing_ok=True)
            raise
        return event_id

    def record_cleared(self, event_id: int, event: dict, *, sinks: list[str]) -> None:
        """Complete an alert when its condition clears (``event`` is the cleared event's JSON)."""
        now = _when(event)
        event["event_id"] = event_id
        with self._write() as db:
            db.execute(
                "UPDATE events SET cleared = ?, end_pts = ?, duration_s = ? WHERE id = ?",
                (now, event.get("pts"), event.get("duration_s"), event_id),
            )
            self._enqueue(db, sinks, event_id, "cleared", event, now)

    # Runs: a watch from its start to its end ------------------------------------------------------

    def start_run(self, watch: str, *, source: str, when: float | None = None) -> int:
        """A watch started in this process: its run's id (its alerts carry it, its end completes it)."""
        now = time.time() if when is None else when
        with self._write() as db:
            return db.execute(
                "INSERT INTO runs (watch, source, started, seen, owner) VALUES (?, ?, ?, ?, ?)",
                (watch, masked(source), now, now, this_process()),
            ).lastrowid

    def saw_run(self, run_id: int) -> None:
        """The run's process is alive now (a dead process's open events end at the last of these)."""
        with self._write() as db:
            db.execute("UPDATE runs SET seen = ? WHERE id = ?", (time.time(), run_id))

    def end_run(self, run_id: int, event: dict) -> list[int]:
        """The run ended (``event`` is its ``ended`` event's JSON): its alerts still open are completed with
        ``end_reason`` ``watch ended``, and each of their sinks is owed a ``cleared``; the ids completed."""
        now = _when(event)
        with self._write() as db:
            db.execute(
                "UPDATE runs SET ended = ?, seen = ?, reason = ?, data = ? WHERE id = ?",
                (now, now, event.get("reason"), json.dumps(event), run_id),
            )
            return self._end_open_events(db, run_id, "watch ended", now, event.get("pts"))

    def end_abandoned_runs(self) -> int:
        """Complete the runs whose process is gone without ending them (``kill -9``, a crash, a power cut), and
        their open alerts, with ``process died`` at the last moment each was known alive; how many runs. Called
        whenever the store opens. On this machine a process is asked whether it runs; one on another machine
        (a container recreated under a new name) is taken for dead once it said nothing for
        :data:`SILENT_FOR_S`."""
        db = self._db()
        host, now = socket.gethostname(), time.time()
        rows = db.execute("SELECT id, seen, owner FROM runs WHERE ended IS NULL").fetchall()
        dead = [
            row for row in rows
            if (not _alive(row["owner"]) if row["owner"].rsplit(":", 2)[0] == host else row["seen"] < now - SILENT_FOR_S)
        ]  # fmt: skip
        for row in dead:
            with self._write() as db:
                if db.execute("SELECT ended FROM runs WHERE id = ?", (row["id"],)).fetchone()["ended"] is not None:
                    continue  # another process completed it meanwhile
                db.execute("UPDATE runs SET ended = seen, reason = 'process died' WHERE id = ?", (row["id"],))
                self._end_open_events(db, row["id"], "process died", row["seen"], None)
        if dead:
            log.warning("Closed %d watch runs whose process died (and the alerts they left open).", len(dead))
        return len(dead)

    def _end_open_events(self, db, run_id: int, reason: str, when: float, pts: float | None) -> list[int]:
        """Complete a run's open alerts (ended, not cleared), each with a ``cleared`` owed to the sinks it had."""
        rows = db.execute(
            "SELECT id, watch, condition, started, start_pts FROM events WHERE run_id = ? AND cleared IS NULL",
            (run_id,),
        ).fetchall()
        for row in rows:
            end = max(when, row["started"])
            # In the source's seconds where both ends are known, as a clearing's duration is; else wall-clock.
            lasted = (
                pts - row["start_pts"] if pts is not None and row["start_pts"] is not None else end - row["started"]
            )
            db.execute(
                "UPDATE events SET cleared = ?, end_pts = ?, duration_s = ?, end_reason = ? WHERE id = ?",
                (end, pts, lasted, reason, row["id"]),
            )
            sinks = [
                sink for (sink,) in db.execute("SELECT DISTINCT sink FROM outbox WHERE event_id = ?", (row["id"],))
            ]
            cleared = {"type": "cleared", "watch": row["watch"], "t": iso(end), "condition": row["condition"],
                       **({"pts": pts} if pts is not None else {}), "duration_s": lasted, "reason": reason}  # fmt: skip
            self._enqueue(db, sinks, row["id"], "cleared", {**cleared, "event_id": row["id"]}, end)
        return [row["id"] for row in rows]

    def runs(self, *, watch: str | None = None, limit: int | None = 100) -> list[dict]:
        """Watch runs, newest first: when each started and ended, and why (``reason``, ``ended`` its event)."""
        where, values = ("WHERE watch = ?", [watch]) if watch is not None else ("", [])
        page = f"LIMIT {int(limit)}" if limit is not None else ""
        rows = self._db().execute(f"SELECT * FROM runs {where} ORDER BY id DESC {page}", values).fetchall()
        return [
            {"id": row["id"], "watch": row["watch"], "source": row["source"], "started": iso(row["started"]),
             "ended": iso(row["ended"]), "reason": row["reason"],
             "summary": json.loads(row["data"]) if row["data"] else None}
            for row in rows
        ]  # fmt: skip

    def _enqueue(self, db, sinks: list[str], event_id: int, kind: str, event: dict, now: float) -> None:
        payload = json.dumps(event)
        db.executemany(
            "INSERT INTO outbox (sink, event_id, kind, payload, created, next_attempt) VALUES (?, ?, ?, ?, ?, ?)",
            [(sink, event_id, kind, payload, now, now) for sink in sinks],
        )

    def _write_snapshot(self, event_id: int, when: float, jpeg: bytes) -> Path:
        day = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d")
        folder = self.folder / "snapshots" / day
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{event_id}.jpg"
        partial = final.with_suffix(".jpg.partial")
        try:
            with open(partial, "wb") as out:
                out.write(jpeg)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)  # a reader never sees half a JPEG
        except BaseException:  # a full disk, a file too large: no half a JPEG left behind either
            partial.unlink(missing_ok=True)
            raise
        return final

    # Reading ---------------------------------------------------------------------------------------

    def get(self, event_id: int) -> dict | None:
        row = self._db().execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else _event(row)

    def query(
        self,
        *,
        watch: str | None = None,
        condition: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
        limit: int | None = 100,
    ) -> list[dict]:
        """Events, newest first, filtered by watch, condition, start time range and (for paging) ``before`` an id."""
        clauses, values = [], []
        for column, operator, value in (
            ("watch", "=", watch), ("condition", "=", condition), ("started", ">=", since),
            ("started", "<", until), ("id", "<", before),
        ):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} {operator} ?")
                values.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        page = f"LIMIT {int(limit)}" if limit is not None else ""
        rows = self._db().execute(f"SELECT * FROM events {where} ORDER BY id DESC {page}", values).fetchall()
        return [_event(row) for row in rows]

    def watch_names(self) -> list[str]:
        """Every watch that has events here, by name."""
        return [row[0] for row in self._db().execute("SELECT DISTINCT watch FROM events ORDER BY watch")]

    def snapshot(self, event_id: int) -> Path | None:
        """The event's snapshot file, if it has one still."""
        row = self._db().execute("SELECT snapshot FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None or row["snapshot"] is None:
            return None
        path = self.folder / row["snapshot"]
        return path if path.is_file() else None

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM events").fetchone()[0]

    # The outbox (the sinks' threads) --------------------------------------------------------------

    def next_deliveries(self, sink: str, limit: int = 1) -> list[PendingDelivery]:
        """The oldest deliveries still owed to ``sink``, in order: they go out in that order."""
        rows = (
            self._db()
            .execute("SELECT * FROM outbox WHERE sink = ? AND done IS NULL ORDER BY id LIMIT ?", (sink, limit))
            .fetchall()
        )
        return [
            PendingDelivery(
                row["id"],
                row["event_id"],
                row["kind"],
                json.loads(row["payload"]),
                row["created"],
                row["attempts"],
                row["next_attempt"],
            )  # fmt: skip
            for row in rows
        ]

    def finish_deliveries(self, delivery_ids: list[int], outcome: str, error: str | None = None) -> None:
        """Mark deliveries delivered, rejected or expired (one transaction)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE outbox SET done = ?, outcome = ?, last_error = COALESCE(?, last_error) WHERE id = ?",
                [(now, outcome, error, delivery_id) for delivery_id in delivery_ids],
            )

    def retry_deliveries(self, delivery_ids: list[int], error: str, at: float) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                [(at, error, delivery_id) for delivery_id in delivery_ids],
            )

    def deliveries(self, sink: str | None = None) -> dict[str, int]:
        """How many deliveries are pending, delivered, rejected and expired (for one sink key, or all)."""
        where, values = ("WHERE sink = ?", (sink,)) if sink else ("", ())
        rows = (
            self._db()
            .execute(
                f"SELECT COALESCE(outcome, 'pending') AS state, COUNT(*) FROM outbox {where} GROUP BY state", values
            )
            .fetchall()
        )
        return {row[0]: row[1] for row in rows}

    def snapshot_jpeg(self, event_id: int | None) -> bytes | None:
        path = self.snapshot(event_id) if event_id is not None else None
        return path.read_bytes() if path is not None else None

    # Retention ------------------------------------------------------------------------------------

    def prune(
        self, *, older_than_s: float | None = None, max_snapshots_mb: float | None = None, now: float | None = None
    ) -> Pruned:
        """Remove events older than ``older_than_s`` (default: ``max_age_days``) with their snapshots, then the
        oldest snapshots while their total exceeds ``max_snapshots_mb`` (their events stay, without a picture),
        and finished deliveries older than a day."""
        now = time.time() if now is None else now
        age = older_than_s if older_than_s is not None else self.max_age_days * 86400
        budget = (max_snapshots_mb if max_snapshots_mb is not None else self.max_snapshots_mb) * 1e6
        pruned = Pruned()
        db = self._db()
        old = db.execute("SELECT id, snapshot, snapshot_bytes FROM events WHERE started < ?", (now - age,)).fetchall()
        total = db.execute("SELECT COALESCE(SUM(snapshot_bytes), 0) FROM events WHERE snapshot IS NOT NULL").fetchone()[
            0
        ]
        total -= sum(row["snapshot_bytes"] for row in old if row["snapshot"])
        over = []
        if total > budget:
            for row in db.execute(
                "SELECT id, snapshot, snapshot_bytes FROM events WHERE snapshot IS NOT NULL AND started >= ? "
                "ORDER BY id", (now - age,)
            ):  # fmt: skip
                if total <= budget:
                    break
                over.append(row)
                total -= row["snapshot_bytes"]
        with self._write() as db:
            db.executemany("DELETE FROM events WHERE id = ?", [(row["id"],) for row in old])
            db.executemany(
                "UPDATE events SET snapshot = NULL, snapshot_bytes = 0 WHERE id = ?", [(row["id"],) for row in over]
            )
            pruned.deliveries = db.execute(
                "DELETE FROM outbox WHERE done IS NOT NULL AND done < ?", (now - DELIVERY_TTL_S,)
            ).rowcount
            # A delivery of an event that is gone has nothing left to deliver (pending or not).
            pruned.deliveries += db.execute(
                "DELETE FROM outbox WHERE event_id IS NOT NULL AND event_id NOT IN (SELECT id FROM events)"
            ).rowcount
            db.execute("DELETE FROM runs WHERE ended IS NOT NULL AND ended < ?", (now - age,))
        pruned.events = len(old)
        # Files go after the rows: a crash in between leaves a stray file, never a row pointing at nothing.
        for row in [*old, *over]:
            if row["snapshot"]:
                path = self.folder / row["snapshot"]
                if path.is_file():
                    path.unlink()
                    pruned.snapshots += 1
                    pruned.snapshot_bytes += row["snapshot_bytes"]
        for day in (self.folder / "snapshots").iterdir():
            if day.is_dir() and not any(day.iterdir()):
                day.rmdir()
        return pruned


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database to :data:`SCHEMA_VERSION`: the first schema, then each version's changes, each in one
    transaction that re-reads the version (two processes opening an old store at once migrate it once)."""
    with _Transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] < 1:
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            db.execute("PRAGMA user_version=1")
    for version in sorted(_MIGRATIONS):
        with _Transaction(db):
            if db.execute("PRAGMA user_version").fetchone()[0] < version:
                for statement in _MIGRATIONS[version]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={version}")


def _statements(script: str) -> list[str]:
    """A script's statements, one by one (``executescript`` would commit the transaction they belong in)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    return statements


def this_process() -> str:
    """Who runs a watch: ``host:pid:start`` (the start tells a reused pid apart, where the system says it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or ''}"


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux's /proc); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22, counted after the command name


def _alive(owner: str) -> bool:
    """Whether the process named by ``owner`` (:func:`this_process`, on this machine) still runs; True where
    it cannot be told (a system without signals to probe with)."""
    if owner == this_process():
        return True
    _, pid, start = owner.rsplit(":", 2)
    if os.name != "posix":
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return not start or _process_start(int(pid)) in (None, start)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on an error): one writer at a time, never half a write."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, error, trace) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _when(event: dict) -> float:
    """The event's own wall-clock time (its ``t``), else now."""
    try:
        return datetime.fromisoformat(event["t"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


def _event(row: sqlite3.Row) -> dict[str, Any]:
    """An event as listings show it (times in ISO 8601)."""
    return {
        "id": row["id"],
        "watch": row["watch"],
        "condition": row["condition"],
        "question": row["question"],
        "source": row["source"],
        "started": iso(row["started"]),
        "start_pts": row["start_pts"],
        "cleared": iso(row["cleared"]),
        "end_pts": row["end_pts"],
        "duration_s": row["duration_s"],
        "answer": row["answer"],
        "probability": row["probability"],
        "snapshot": row["snapshot"],
        "snapshot_bytes": row["snapshot_bytes"],
        "end_reason": row["end_reason"],
    }
