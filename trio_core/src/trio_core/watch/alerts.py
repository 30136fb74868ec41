"""Where a watch's alerts go: the event store first, then every sink, through the store's outbox.

:class:`Alerts` is one per process (the CLI's watch, or the server with all its watches). A
watch hands it each event as it happens (:meth:`WatchAlerts.record`, on the watch's thread):
an ``alert`` is written with its snapshot and its deliveries in one transaction, and only
then emitted; a ``cleared`` completes it. One :class:`SinkWorker` thread per sink URL
delivers what the outbox holds for it, oldest first, one at a time (so a receiver sees the
alerts in order), retrying with exponential backoff until delivered or expired. A sink's
failure is logged once per change and shown in the watch listing; it never reaches the watch.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..credentials import masked
from ..frames import jpeg_bytes
from ..sinks.base import Delivery, SinkConnection, SinkRejected, check_sink, connect_sink, sink_key, sink_label
from .event_store import DELIVERY_TTL_S, SEEN_EVERY_S, EventStore

if TYPE_CHECKING:
    from ..outbound import Reach
    from .events import WatchEvent

log = logging.getLogger("trio.alerts")
BACKOFF_S = (0.5, 60.0)  # the first retry's wait, doubling up to the last
PRUNE_EVERY_S = 600.0


class Watched(Protocol):
    """What the alerts need of a watch (:class:`~trio_core.watch.Watch` is one): how listings name its source,
    and its listing, which sinks are told when it starts and ends."""

    source: str

    def describe(self) -> dict[str, Any]: ...


def backoff(attempts: int) -> float:
    first, most = BACKOFF_S
    return min(most, first * 2 ** max(0, attempts - 1))


class SinkWorker:
    """One sink URL: its connection and the thread that empties its part of the outbox."""

    def __init__(self, alerts: Alerts, url: str, connection: SinkConnection):
        self.alerts, self.connection = alerts, connection
        self.key = sink_key(url)
        self.label = sink_label(url)
        self.reach: Reach | None = None  # the rule its connection keeps, where a request opened it
        self.last_error: str | None = None
        self.delivered = 0
        self._wake = threading.Event()
        self._controls: list[tuple[str, dict]] = []  # announce / retire, before the next delivery
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"trio-sink-{self.key[:8]}")
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def control(self, action: str, watch: dict) -> None:
        with self._lock:
            self._controls.append((action, watch))
        self.wake()

    @property
    def problem(self) -> str | None:
        return self.connection.problem or self.last_error

    def describe(self) -> dict[str, Any]:
        return {"sink": self.label, "delivered": self.delivered, "pending": self.pending(), "problem": self.problem}

    def pending(self) -> int:
        return self.alerts.store.deliveries(self.key).get("pending", 0)

    def _run(self) -> None:
        store = self.alerts.store
        while not self._stop.is_set():
            self._apply_controls()
            try:
                due = store.next_deliveries(self.key, self.connection.batch_size)
            except Exception as error:  # a locked or vanished database: wait and read it again
                self._failed(f"cannot read the outbox: {error}")
                self._wake.wait(1.0)
                continue
            if not due:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            now = time.time()
            expired = [pending.id for pending in due if pending.created + self.alerts.delivery_ttl_s < now]
            if expired:
                store.finish_deliveries(expired, "expired")
                log.warning("Gave up %d alerts for %s: not delivered in %.0f s.", len(expired), self.label,
                            self.alerts.delivery_ttl_s)  # fmt: skip
                continue
            if due[0].next_attempt > now:  # the oldest waits out its backoff, and the rest behind it (order)
                self._wake.wait(due[0].next_attempt - now)
                self._wake.clear()
                continue
            self._attempt(due)
        self._apply_controls()  # a watch retired just before the stop is still said to be offline
        self.connection.close()

    def _apply_controls(self) -> None:
        with self._lock:
            controls, self._controls = self._controls, []
        for action, watch in controls:
            try:
                getattr(self.connection, action)(watch)
            except Exception as error:  # announcing is best effort: a sink re-announces on reconnect
                log.warning("The sink %s could not %s watch %s: %s", self.label, action, watch["id"], error)

    def _attempt(self, due: list) -> None:
        store = self.alerts.store
        deliveries = []
        for pending in due:
            snapshot = store.snapshot_jpeg(pending.event_id) if pending.kind == "alert" else None
            deliveries.append(Delivery(
                pending.id, pending.kind, pending.event, snapshot, pending.attempts + 1,
                snapshot_url=self.alerts.snapshot_url(pending.event_id) if snapshot is not None else None,
            ))  # fmt: skip
        ids = [pending.id for pending in due]
        try:
            if len(deliveries) == 1:
                self.connection.deliver(deliveries[0])
            else:
                self.connection.deliver_batch(deliveries)
        except SinkRejected as error:
            store.finish_deliveries(ids, "rejected", masked(str(error)))
            log.error("%s The alert is given up.", masked(str(error)))
            return
        except Exception as error:  # SinkError, or a sink's bug: retried, never raised into the watch
            wait = backoff(due[0].attempts + 1)
            retry_after = getattr(error, "retry_after_s", None)
            if retry_after is not None:
                wait = max(wait, min(retry_after, BACKOFF_S[1] * 5))
            message = masked(str(error)) or type(error).__name__
            store.retry_deliveries(ids, message, time.time() + wait)
            self._failed(message)
            return
        store.finish_deliveries(ids, "delivered")
        self.delivered += len(ids)
        if self.last_error is not None:
            log.info("The sink %s delivers again.", self.label)
            self.last_error = None

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s (retrying)", message)
        self.last_error = message

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        self._thread.join(timeout)


class Alerts:
    """The event store and the sinks of one process; ``public_url`` is the server's own address, where
    webhooks may point at a snapshot instead of carrying it."""

    def __init__(
        self, store: EventStore | None = None, *, public_url: str | None = None, delivery_ttl_s: float = DELIVERY_TTL_S
    ):
        self.store = store or EventStore()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.delivery_ttl_s = delivery_ttl_s
        self.workers: dict[str, SinkWorker] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pruner = threading.Thread(target=self._prune, daemon=True, name="trio-events-prune")
        self._pruner.start()

    def snapshot_url(self, event_id: int | None) -> str | None:
        if self.public_url is None or event_id is None:
            return None
        return f"{self.public_url}/v1/events/{event_id}/snapshot.jpg"

    def sinks(self, urls: list[str], reach: Reach | None = None) -> list[SinkWorker]:
        """The workers for these sink URLs, opened now where they are new: an unknown scheme or an unusable URL
        is a ConfigError here, before any watch starts. A worker stays until the process ends, so that what
        its outbox still owes goes out after its watches stopped. With ``reach`` (a request named them), a new
        worker connects only where ``reach`` allows, and one the process already has must pass it too."""
        workers = []
        with self._lock:
            for url in dict.fromkeys(urls):  # the same URL twice is one sink (in memory only: by the URL itself)
                worker = self.workers.get(url)
                if worker is None:
                    worker = self.workers[url] = SinkWorker(self, url, connect_sink(url, reach))
                    worker.reach = reach
                elif reach is not None and worker.reach is None:
                    check_sink(url, reach)
                workers.append(worker)
        return workers

    def for_watch(self, watch: Watched, sinks: list[str]) -> WatchAlerts:
        """What ``watch`` records its events through, delivering to ``sinks`` (URLs)."""
        return WatchAlerts(self, watch, self.sinks(sinks))

    def _prune(self) -> None:
        while not self._closed.wait(PRUNE_EVERY_S):
            try:
                pruned = self.store.prune()
                if pruned.events or pruned.snapshots:
                    log.info("%s", pruned.sentence())
                self.store.end_abandoned_runs()  # a watch of another process that died meanwhile (a server runs on)
            except Exception as error:
                log.warning("Could not prune the event store: %s", error)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every sink's deliveries; whether all went out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(worker.pending() == 0 for worker in self.workers.values()):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the sinks (each finishes the delivery in progress) and close this thread's store connection."""
        self._closed.set()
        for worker in self.workers.values():
            worker.close()
        self.store.close()


class WatchAlerts:
    """One watch's link to the store and its sinks: :meth:`record` each event before it is emitted."""

    def __init__(self, alerts: Alerts, watch: Watched, workers: list[SinkWorker]):
        self.alerts, self.watch, self.workers = alerts, watch, workers
        self.keys = [worker.key for worker in workers]
        self.open_events: dict[str, int] = {}  # condition -> the id of its alert that has not cleared
        self.run_id: int | None = None  # the watch's run in the store, from its started event to its ended
        self._seen = 0.0

    def record(self, event: WatchEvent) -> None:
        """Store an alert (adding ``event_id`` and ``snapshot`` to it) or its clearing, and queue their deliveries;
        announce the watch to its sinks when it starts and retire it when it ends."""
        if event.type == "started":
            for worker in self.workers:
                worker.control("announce", self.watch.describe())
            self.run_id = self.alerts.store.start_run(event.watch, source=self.watch.source)
            self._seen = time.monotonic()
        elif self.run_id is not None and event.type != "ended" and time.monotonic() - self._seen >= SEEN_EVERY_S:
            self._seen = time.monotonic()
            self.alerts.store.saw_run(self.run_id)
        if event.type == "alert":
            data = event.to_dict()
            snapshot = jpeg_bytes(event.image) if event.image is not None else None
            question = event.details.get("question")
            event_id = self.alerts.store.record_alert(
                data, source=self.watch.source, question=question, snapshot=snapshot, sinks=self.keys,
                run_id=self.run_id,
            )  # fmt: skip
            event.details["event_id"] = event_id
            if "snapshot" in data:
                event.details["snapshot"] = data["snapshot"]
            self.open_events[event.condition] = event_id
            self._wake()
        elif event.type == "cleared" and event.condition in self.open_events:
            event_id = self.open_events.pop(event.condition)
            event.details["event_id"] = event_id
            self.alerts.store.record_cleared(event_id, event.to_dict(), sinks=self.keys)
            self._wake()
        elif event.type == "ended":
            # The alerts still open end with the watch (their sinks are told they cleared), before it retires.
            if self.run_id is not None:
                self.alerts.store.end_run(self.run_id, event.to_dict())
                self.open_events.clear()
                self._wake()
            for worker in self.workers:
                worker.control("retire", self.watch.describe())

    def _wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    def sinks(self) -> list[dict[str, Any]]:
        return [worker.describe() for worker in self.workers]
