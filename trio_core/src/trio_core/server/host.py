"""The loaded model behind the server: who may use it now, how many wait, and reloading it.

One request runs on a local model at a time (a model answers one generate call at once); up to
``queue_size`` more wait their turn and the rest get 429 at once. A model whose backend takes
several requests at once (``LoadedModel.concurrent``: the remote backend, which bounds them per
endpoint itself) has no turn to wait for: a gateway in front of a pool of servers would
otherwise send them one request at a time. A reload stops admitting new requests, lets those in
flight finish, loads the new model, and either switches to it or, when it fails, keeps serving
the old one.

At start-up a model that cannot load is final (``trio serve`` exits with the reason), except on
a remote backend: its servers may simply not be up yet, so they are asked again, less and less
often, until one answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

from ..config import EngineConfig
from ..errors import ModelLoadError, PluginNotFoundError, TrioError
from ..sdk import TrioCore
from .errors import APIError

log = logging.getLogger("trio.server")
RETRY_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # a remote backend's servers asked again after these waits, then every 15 s


def log_failure(host: ModelHost) -> None:
    if host.status == "failed":
        log.error("model failed to load: %s", host.error)


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
        self.failure: TrioError | None = None  # why the model did not load at start-up
        self.on_queue_change = lambda depth: None
        # Called once the start-up load is settled, ready or failed (`trio serve` announces itself or exits).
        self.on_loaded: Callable[[ModelHost], None] = log_failure

    async def load(self) -> None:
        if self.engine is not None:  # given loaded (trio bench serve shares one engine with direct calls)
            self.status, self.loaded_at = "ready", time.time()
            self.on_loaded(self)
            return
        waits = iter(RETRY_S)
        while True:
            try:
                self.engine = await run_in_threadpool(TrioCore(self.config).load)
                break
            except ModelLoadError as error:
                if not remote_backend(self.config):
                    return self._failed(error)
                wait = next(waits, RETRY_S[-1])
                if str(error) != self.error:
                    log.warning("waiting for the model's servers (asking again in %g s, then less often): %s",
                                wait, error)  # fmt: skip
                self.error = str(error)
                await asyncio.sleep(wait)
            except TrioError as error:
                return self._failed(error)
        self.status, self.error, self.loaded_at = "ready", None, time.time()
        self.on_loaded(self)

    def _failed(self, error: TrioError) -> None:
        self.status, self.error, self.failure = "failed", str(error), error
        self.on_loaded(self)

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


def remote_backend(config: EngineConfig) -> bool:
    """Whether ``config`` runs on a remote backend (the model is on other servers, which may come up later)."""
    from ..plugins import registry

    requested = config.backend
    if requested == "auto" and config.endpoints:
        requested = "openai"  # as TrioCore.load reads it
    if requested == "auto":
        return False
    try:
        return not registry().find("backend", requested).local
    except PluginNotFoundError:
        return False
