"""The live view of every watch (``GET /v1/watch/live``, the dashboard's): events and states as they happen.

Watches run on threads; :class:`LiveHub` hands each of their events (without the frame: the
dashboard fetches ``/v1/watch/{id}/frame.jpg`` when it wants the picture) to every
subscriber's queue on the event loop. A subscriber that falls behind loses its oldest
updates, never slows a watch: a live view wants the newest state, and the event store keeps
everything that happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import Request

from .streams import sse

BACKLOG = 256  # updates one subscriber may fall behind before its oldest are dropped
HEARTBEAT_S = 10.0
QUIET_TYPES = ("heartbeat",)  # not worth a message: the stream's own heartbeat says the server is there


class LiveHub:
    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[asyncio.Queue] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def publish(self, kind: str, data: dict) -> None:
        """From any thread: one update to every subscriber."""
        if self.loop is None or not self.subscribers:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the server is going away
            self.loop.call_soon_threadsafe(self._deliver, sse(data, kind))

    def _deliver(self, item: str) -> None:
        for queue in list(self.subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    def event(self, event) -> None:
        if event.type not in QUIET_TYPES:
            self.publish(event.type, event.to_dict())

    def watch(self, listing: dict) -> None:
        self.publish("watch", listing)

    def removed(self, watch_id: str) -> None:
        self.publish("removed", {"id": watch_id})

    async def stream(self, request: Request, listing: Callable[[], list[dict]]) -> AsyncIterator[str]:
        queue: asyncio.Queue = asyncio.Queue(BACKLOG)
        self.subscribers.add(queue)
        try:
            yield sse({"watches": listing()}, "watches")
            while not await request.is_disconnected():
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                    yield sse({}, "heartbeat")
        finally:
            self.subscribers.discard(queue)
