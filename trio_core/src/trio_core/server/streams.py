"""Running a blocking answer stream (text deltas, then the AnalysisResult) from async code.

Each step runs in the thread pool; a step in flight is always waited for before the stream
is closed (closing a generator while another thread runs it fails), and closing it stops the
generation on the model. The request's deadline is checked between tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

from starlette.concurrency import run_in_threadpool

from ..sdk import AnalysisResult
from .errors import APIError

_END = object()


def _step(stream: Iterator):
    return next(stream, _END)


class AnswerStream:
    """``async for delta in AnswerStream(stream, deadline)``; afterwards ``result`` holds the AnalysisResult."""

    def __init__(self, stream: Iterator[str | AnalysisResult], deadline: float):
        self.stream = stream
        self.deadline = deadline
        self.result: AnalysisResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            while True:
                step = asyncio.ensure_future(run_in_threadpool(_step, self.stream))
                try:
                    item = await asyncio.shield(step)
                except asyncio.CancelledError:
                    await asyncio.gather(step, return_exceptions=True)
                    raise
                if item is _END:
                    return
                if isinstance(item, AnalysisResult):
                    self.result = item
                    continue
                yield item
                if time.monotonic() > self.deadline:
                    raise APIError(504, "The request took longer than the server's request timeout.")
        finally:
            await run_in_threadpool(self.stream.close)

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
