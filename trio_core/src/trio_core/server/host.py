"""The loaded model behind the server: who may use it now, how many wait, and reloading it.

One request runs on a local model at a time (a model answers one generate call at once); up to
``queue_size`` more wait their turn and the rest get 429 at once. A model whose backend takes
several requests at once (``LoadedModel.concurrent``: the remote backend, which bounds them per
endpoint itself) has no turn to wait for: a gateway in front of a pool of servers would
otherwise send them one request at a time. A reload stops admitting new requests, lets those in
flight finish, loads the new model, and either switches to it or, when it fails, keeps serving
the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from ..config import EngineConfig
from ..errors import TrioError
from ..sdk import TrioCore
from .errors import APIError

log = logging.getLogger("trio.server")


class ModelHost:
    def __init__(self, config: EngineConfig, *, queue_size: int, request_timeout_s: float):
        self.config = config
        self.engine: TrioCore | None = None
        self.status = "loading"  # loading | ready | failed
        self.error: str | None = None
        self.queue_size = queue_size
        self.request_timeout_s = request_timeout_s
        self.waiting = 0  # admitted requests not yet on the model
        self.running = 0
        self._turn = asyncio.Lock()
        self._reloading = asyncio.Lock()
        self._shared = asyncio.Condition()  # requests on a concurrent model, and a reload waiting for them
        self._sharing = 0
        self._draining = False
        self.loaded_at: float | None = None
        self.on_queue_change = lambda depth: None

    async def load(self) -> None:
        if self.engine is not None:  # given loaded (trio bench serve shares one engine with direct calls)
            self.status, self.loaded_at = "ready", time.time()
            return
        try:
            self.engine = await run_in_threadpool(TrioCore(self.config).load)
        except TrioError as error:
            self.status, self.error = "failed", str(error)
            log.error("model failed to load: %s", error)
            return
        self.status, self.error, self.loaded_at = "ready", None, time.time()

    def ready_engine(self) -> TrioCore:
        if self.engine is None:
            detail = f": {self.error}" if self.error else ""
            raise APIError(503, f"The model is not loaded ({self.status}{detail}).", headers={"Retry-After": "5"})
        return self.engine

    def check_capacity(self) -> TrioCore:
        """The engine; 503 while no model is loaded, 429 when the queue for the model is full."""
        engine = self.ready_engine()
        if self.waiting >= self.queue_size + (0 if self._turn.locked() else 1):
            raise APIError(
                429, "The server is busy: too many requests are waiting for the model.", headers={"Retry-After": "2"}
            )
        return engine

    @contextlib.asynccontextmanager
    async def turn(self, *, queue: bool = True) -> AsyncIterator[TrioCore]:
        """The model, for one request: wait for it in the bounded queue, or 429 when the queue is full.

        ``queue=False`` (a running watch's next frame) waits whatever the queue holds: a busy
        server slows a watch down rather than ending it.
        """
        engine = self.check_capacity() if queue else self.ready_engine()
        if engine.model is not None and engine.model.concurrent:
            async with self.shared_turn(engine, queue=queue) as engine:
                yield engine
            return
        self.waiting += 1
        self.on_queue_change(self.waiting)
        try:
            await asyncio.wait_for(self._turn.acquire(), timeout=self.request_timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise APIError(503, "Timed out waiting for the model.", headers={"Retry-After": "5"}) from None
        finally:
            self.waiting -= 1
            self.on_queue_change(self.waiting)
        try:
            self.running += 1
            yield self.ready_engine()
        finally:
            self.running -= 1
            self._turn.release()

    @contextlib.asynccontextmanager
    async def shared_turn(self, engine: TrioCore, *, queue: bool) -> AsyncIterator[TrioCore]:
        """A concurrent model, alongside the other requests on it; waits only while a reload drains them.

        Requests beyond what the model takes at once (``max_in_flight``) plus ``queue_size`` get 429, as for a
        local model: each holds a worker thread while it waits, and the threads are few.
        """
        most = getattr(engine.model, "max_in_flight", None)
        if queue and most is not None and self._sharing >= most + self.queue_size:
            raise APIError(
                429,
                "The server is busy: too many requests are on their way to the model.",
                headers={"Retry-After": "2"},
            )
        async with self._shared:
            await self._shared.wait_for(lambda: not self._draining)
            self._sharing += 1
        try:
            self.running += 1
            yield self.ready_engine()
        finally:
            self.running -= 1
            async with self._shared:
                self._sharing -= 1
                self._shared.notify_all()

    async def reload(self, config: EngineConfig) -> tuple[bool, str]:
        """Load ``config``'s model in place of the current one; on failure keep the current one."""
        async with self._reloading:
            await self._turn.acquire()  # drained: no request runs, new ones wait behind the reload
            try:
                async with self._shared:
                    self._draining = True
                    await self._shared.wait_for(lambda: self._sharing == 0)
                try:
                    engine = await run_in_threadpool(TrioCore(config).load)
                except TrioError as error:
                    log.warning("reload failed, still serving %s: %s", self.config.model, error)
                    return False, str(error)
                old, self.engine, self.config = self.engine, engine, config
                self.status, self.error, self.loaded_at = "ready", None, time.time()
                if old is not None:
                    await run_in_threadpool(old.close)
                return True, f"Now serving {config.model}."
            finally:
                self._turn.release()
                async with self._shared:
                    self._draining = False
                    self._shared.notify_all()

    async def close(self) -> None:
        if self.engine is not None:
            await run_in_threadpool(self.engine.close)
            self.engine = None
