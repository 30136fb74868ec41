"""Running a blocking answer stream (text deltas, then the AnalysisResult) from async code.

The stream runs to its end in one worker thread, which hands each item to the event loop as it
comes: the model never waits for the loop between tokens (a trip to a worker thread per token
cost about 2 ms each, a fifth of a small model's answer). Stopping early (the client went
away) tells the worker to stop at its next token, and waits for it: closing a generator while
another thread runs it fails, and closing it stops the generation on the model. The request's
deadline is checked between tokens.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

from starlette.concurrency import run_in_threadpool

from ..sdk import AnalysisResult
from .errors import APIError

_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class AnswerStream:
    """``async for delta in AnswerStream(stream, deadline)``; afterwards ``result`` holds the AnalysisResult."""

    def __init__(self, stream: Iterator[str | AnalysisResult], deadline: float):
        self.stream = stream
        self.deadline = deadline
        self.result: AnalysisResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:  # in a worker thread, the whole answer
            try:
                for item in self.stream:
                    loop.call_soon_threadsafe(items.put_nowait, item)
                    if stop.is_set():
                        break
                    if time.monotonic() > self.deadline:
                        raise APIError(504, "The request took longer than the server's request timeout.")
            except BaseException as error:  # handed to the request, in order, after what came before
                loop.call_soon_threadsafe(items.put_nowait, _Failed(error))
            finally:
                self.stream.close()
                loop.call_soon_threadsafe(items.put_nowait, _END)

        worker = asyncio.ensure_future(run_in_threadpool(produce))
        try:
            while True:
                item = await items.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                if isinstance(item, AnalysisResult):
                    self.result = item
                    continue
                yield item
        finally:
            stop.set()
            await asyncio.gather(worker, return_exceptions=True)  # the stream is closed before the turn is given back

    async def collect(self) -> tuple[str, AnalysisResult]:
        """Run to the end, in one trip to a worker thread (no hop per token): the whole text and the result."""
        result = await run_in_threadpool(self._drain)
        return result.text, result

    def _drain(self) -> AnalysisResult:
        try:
            for item in self.stream:
                if isinstance(item, AnalysisResult):
                    self.result = item
                elif time.monotonic() > self.deadline:
                    raise APIError(504, "The request took longer than the server's request timeout.")
        finally:
            self.stream.close()
        assert self.result is not None
        return self.result


def sse(data: dict | str, event: str | None = None) -> str:
    """One server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


async def answer(state, ask, deadline: float | None = None) -> AnalysisResult:
    """Wait for the model's turn, run ``ask(engine)`` (an answer stream) to its end, count it; the result.

    ``state``: the app's state (its host, settings and telemetry); ``deadline`` (monotonic),
    by default the request timeout from now.
    """
    if deadline is None:
        deadline = time.monotonic() + state.settings.request_timeout_s
    async with state.host.turn() as engine:
        _, result = await AnswerStream(ask(engine), deadline).collect()
    state.telemetry.answered(result)
    return result
