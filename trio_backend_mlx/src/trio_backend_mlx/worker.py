"""The one thread a loaded MLX model computes on, which releases its MLX streams before it ends.

MLX keeps streams per thread, and since MLX 0.32 a thread that evaluated arrays must call ``mx.clear_streams()``
before it ends: left to MLX's own teardown, the cleanup runs after the interpreter is gone and aborts the process
now and then ("terminate called without an active exception"). A ``ThreadPoolExecutor`` worker ends on its own
at interpreter shutdown, with no hook to run that call, so the model gets this small thread instead.
"""

from __future__ import annotations

import atexit
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import mlx.core as mx

_STOP = object()


class MLXThread:
    """Runs submitted calls one at a time on a single thread; ``stop()`` (or interpreter exit) ends it cleanly."""

    def __init__(self, name: str):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        # A daemon thread, so a model nobody stopped does not hold the interpreter open; the exit handler below
        # stops it before MLX tears down (atexit handlers run before daemon threads are dropped).
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def submit(self, function: Callable, *args, **kwargs) -> Future:
        if not self._thread.is_alive():
            raise RuntimeError("this MLX model was closed")
        future: Future = Future()
        self._calls.put((future, function, args, kwargs))
        return future

    def stop(self) -> None:
        """Let queued calls finish, release the thread's MLX streams and end it. Safe to call twice."""
        atexit.unregister(self.stop)
        if self._thread.is_alive():
            self._calls.put(_STOP)
            if threading.current_thread() is not self._thread:
                self._thread.join()

    def _run(self) -> None:
        try:
            while (call := self._calls.get()) is not _STOP:
                future, function, args, kwargs = call
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(function(*args, **kwargs))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
        finally:
            mx.clear_streams()
