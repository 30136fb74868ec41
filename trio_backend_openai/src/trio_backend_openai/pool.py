"""Several endpoints as one pool: each camera sticks to one server, a failing server is left out for a while.

Routing is rendezvous (highest-random-weight) hashing: every endpoint gets a score from a hash of
the request's key (a watch's id) and its URL, and the request goes to the healthy endpoint with the
highest score. A camera therefore stays on one server, whose prefix and media caches stay warm;
when that server is left out, only its cameras move (each to its own next-best), and they come
back when it does.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator

from trio_core.errors import BackendUnavailableError

from .capabilities import Capabilities
from .client import Connection
from .settings import RemoteSettings


class SlotsBusy(Exception):
    """Every request slot of an endpoint stayed taken until the request's time was up."""


class Endpoint:
    """One server: its connection, what it accepts, its request slots, and whether it is left out."""

    def __init__(self, connection: Connection, settings: RemoteSettings):
        self.connection = connection
        self.settings = settings
        self.capabilities: Capabilities | None = None  # found on first contact
        self.slots = threading.BoundedSemaphore(settings.max_concurrency)
        self.in_flight = 0
        self.failures = 0  # in a row
        self.out_until = 0.0  # monotonic time before which it is not asked
        self.last_error: str | None = None
        self.busy = False  # left out because it said it was overloaded, not because it is down
        self.lock = threading.Lock()
        self.sent_ids: dict[str, None] = {}  # media ids this server was sent the bytes of (oldest first)

    @property
    def label(self) -> str:
        return self.connection.label

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.out_until

    def left_out(self, reason: str, retry_after: float | None = None, *, busy: bool = False) -> float:
        """Leave this endpoint out for ``retry_after`` seconds (its own ask), else a backoff that doubles per
        failure in a row; returns the delay. ``busy``: it is up but overloaded (429, 503)."""
        with self.lock:
            self.busy = busy
            self.failures += 1
            backoff = min(self.settings.backoff_s * 2 ** min(self.failures - 1, 30), self.settings.backoff_max_s)
            delay = min(retry_after, self.settings.backoff_max_s) if retry_after is not None else backoff
            delay = max(delay, 0.1)  # "Retry-After: 0", or a date gone by: not a reason to ask again at once
            self.out_until = time.monotonic() + delay
            self.last_error = reason
            return delay

    def answered(self) -> None:
        with self.lock:
            self.failures, self.out_until, self.last_error = 0, 0.0, None

    @contextlib.contextmanager
    def slot(self, timeout: float) -> Iterator[None]:
        """One of the endpoint's request slots; waits here (up to ``timeout`` seconds) when all are taken."""
        if not self.slots.acquire(timeout=timeout):
            raise SlotsBusy(
                f"all {self.settings.max_concurrency} request slots of {self.label} stayed busy (raise "
                "openai.max_concurrency if the server has room, or add an --endpoint)"
            )
        with self.lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1
            self.slots.release()

    def has_media(self, media_id: str) -> bool:
        return media_id in self.sent_ids

    def noted_media(self, media_id: str, *, keep: int = 4096) -> None:
        with self.lock:
            self.sent_ids.pop(media_id, None)
            self.sent_ids[media_id] = None
            while len(self.sent_ids) > keep:
                self.sent_ids.pop(next(iter(self.sent_ids)))

    def describe(self) -> dict:
        left = self.out_until - time.monotonic()
        return {
            "url": self.label,
            "state": "up" if left <= 0 else "left out",
            "retry_in_s": round(left, 1) if left > 0 else None,
            "in_flight": self.in_flight,
            "error": self.last_error,
            "capabilities": self.capabilities.describe() if self.capabilities else None,
        }


class EndpointPool:
    """The endpoints, in the order each request should try them."""

    def __init__(self, endpoints: list[Endpoint]):
        self.endpoints = endpoints
        self._turn = 0  # requests without a key take turns

    def ranked(self, key: str | None, *, take_turn: bool = True) -> list[Endpoint]:
        """Every endpoint, best first for ``key``: rendezvous hashing, or round robin without a key (``take_turn``
        False: whose turn it is, without moving on)."""
        if key is None:
            start = self._turn % len(self.endpoints)
            self._turn += take_turn  # unlocked: two requests that race may share a turn, which is harmless
            return self.endpoints[start:] + self.endpoints[:start]
        return sorted(self.endpoints, key=lambda endpoint: score(key, endpoint.connection.base_url), reverse=True)

    def candidates(self, key: str | None, *, wait_until: float = 0.0) -> list[Endpoint]:
        """The healthy endpoints, best first for ``key``.

        When every one is left out only for being busy (429, 503), this waits for the first to be due again, up
        to ``wait_until`` (monotonic): a saturated pool slows requests down rather than failing them. Otherwise
        none healthy is a :class:`BackendUnavailableError`.
        """
        while True:
            ranked = self.ranked(key)
            healthy = [endpoint for endpoint in ranked if endpoint.healthy]
            if healthy:
                return healthy
            soonest = min(ranked, key=lambda endpoint: endpoint.out_until)
            if all(endpoint.busy for endpoint in ranked) and soonest.out_until <= wait_until:
                time.sleep(max(0.0, soonest.out_until - time.monotonic()))
                continue
            raise BackendUnavailableError(
                f"No endpoint can answer now ({self.failures()}); the first is tried again in "
                f"{max(0.0, soonest.out_until - time.monotonic()):.0f} s."
            )

    def failures(self) -> str:
        # Each reason names its endpoint already ("nothing is listening at http://...").
        return "; ".join(endpoint.last_error or f"{endpoint.label} is left out" for endpoint in self.endpoints)

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.connection.close()


def score(key: str, url: str) -> int:
    """The rendezvous score of ``url`` for ``key``: stable across processes and machines (not Python's hash)."""
    return int.from_bytes(hashlib.blake2b(f"{key}\0{url}".encode(), digest_size=8).digest(), "big")
