"""``/v1/watch``: watch a source (a file now; RTSP or a webcam through their plugins) for conditions.

A watch reads frames from any installed frame source at the rate asked, asks every
condition about each frame (one batch with kvreuse), and streams server-sent events:

- ``status``: started, and ended (the source ran out, or the watch was stopped);
- ``result``: each frame's answers;
- ``alert``: a condition answered yes, with a JPEG of the frame; then quiet for the
  condition's cooldown, so one event does not fire on every frame;
- ``heartbeat``: every few seconds when nothing else was sent;
- ``error``: what went wrong, then the stream ends.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from PIL import Image
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..frames import SamplingPlan
from ..metrics import Metrics
from ..pipeline import Clip
from ..plugins import registry
from ..sources import find_source, uri_scheme
from .analysis import triggered
from .errors import APIError, stream_error
from .media import MediaResolver
from .streams import sse

router = APIRouter(tags=["watch"])
HEARTBEAT_S = 10.0
CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def masked(source: str) -> str:
    """``source`` with any user:password@ replaced, for lists and logs."""
    return CREDENTIALS.sub("***@", source)


class Condition(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    question: str = Field(
        min_length=1, max_length=2000, description="A yes/no question, e.g. 'Is someone at the door?'"
    )


class WatchRequest(BaseModel):
    source: str = Field(
        description="A path under the media roots, an http(s) video URL, or a URI a frame-source plugin opens "
        "(rtsp://..., webcam://0)."
    )
    conditions: list[Condition] = Field(min_length=1, max_length=16)
    fps: float = Field(1.0, gt=0.0, le=30.0, description="Frames checked per second of the source.")
    max_side: int | None = Field(None, ge=28, description="Longest frame side (aspect ratio kept; clamped).")
    cooldown_s: float | None = Field(None, ge=0.0, le=86_400, description="Quiet time after an alert, per condition.")
    max_tokens: int = Field(8, ge=1, le=256, description="Most tokens of each answer.")


@dataclass
class Watch:
    id: str
    source: str
    request: WatchRequest
    started: float = field(default_factory=time.time)
    frames: int = 0
    alerts: int = 0
    last_alert: dict[str, float] = field(default_factory=dict)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    def describe(self) -> dict:
        return {
            "id": self.id,
            "source": masked(self.source),
            "conditions": [condition.model_dump() for condition in self.request.conditions],
            "fps": self.request.fps,
            "started": self.started,
            "frames": self.frames,
            "alerts": self.alerts,
        }


class WatchManager:
    def __init__(self, app):
        self.app = app
        self.watches: dict[str, Watch] = {}

    async def stop_all(self) -> None:
        for watch in list(self.watches.values()):
            watch.stopped.set()


@router.post("/v1/watch", responses={200: {"content": {"text/event-stream": {}}}})
async def start_watch(body: WatchRequest, request: Request):
    """Start watching; the response is the watch's event stream (closing it stops the watch)."""
    state = request.app.state
    engine = state.host.ready_engine()
    manager: WatchManager = state.watches
    if len(manager.watches) >= state.settings.max_watches:
        raise APIError(429, f"Already {len(manager.watches)} watches running (the most this server runs).",
                       headers={"Retry-After": "30"})  # fmt: skip
    side = min(body.max_side or engine.config.max_side, state.settings.request_max_side)
    plan = SamplingPlan(fps=body.fps, min_frames=1, max_frames=100_000, max_side=side)
    resolver = MediaResolver(state.settings)
    target = await run_in_threadpool(watch_target, resolver, body.source)
    source = find_source(target, registry().objects("frame source"))
    frames = iter(await run_in_threadpool(source.open, target, plan, engine.config))
    watch = Watch(id=uuid.uuid4().hex[:12], source=body.source, request=body)
    return StreamingResponse(events(request, watch, frames, resolver), media_type="text/event-stream")


def watch_target(resolver: MediaResolver, source: str):
    """What the frame source opens: a checked local path, a fetched http(s) video, or a plugin's URI as it is."""
    scheme = (uri_scheme(source) or "").lower()
    if scheme in ("http", "https", "data", "file"):
        return resolver.video(source, what="source")
    return source  # rtsp://, webcam://: cameras live on private networks; their plugin reads them


_END = object()


def next_frame(frames):
    return next(frames, _END)


async def events(request: Request, watch: Watch, frames, resolver: MediaResolver):
    state = request.app.state
    questions = [condition.question for condition in watch.request.conditions]
    cooldown = watch.request.cooldown_s if watch.request.cooldown_s is not None else state.settings.alert_cooldown_s
    queue: asyncio.Queue = asyncio.Queue(maxsize=8)
    # Registered here, not in the handler: a stream that never starts then holds no slot.
    state.watches.watches[watch.id] = watch
    state.telemetry.watches.set(len(state.watches.watches))

    async def produce():
        try:
            await queue.put(sse({"id": watch.id, "state": "started", "source": masked(watch.source)}, "status"))
            while not watch.stopped.is_set():
                frame = await run_in_threadpool(next_frame, frames)
                if frame is _END:
                    break
                clip = Clip([frame], SamplingPlan(fps=watch.request.fps), Metrics(frames_in=1, frames_used=1), 0.0)
                started = time.perf_counter()
                async with state.host.turn(queue=False) as engine:
                    results = await run_in_threadpool(
                        engine.analyze_frame_each, clip, questions, yes_no=True, max_tokens=watch.request.max_tokens
                    )
                for result in results:
                    state.telemetry.answered(result)
                watch.frames += 1
                answers = []
                for condition, result in zip(watch.request.conditions, results, strict=True):
                    fired = triggered(result)
                    answers.append({"id": condition.id, "answer": result.text, "triggered": fired,
                                    "yes_probability": result.yes_probability})  # fmt: skip
                    quiet = time.monotonic() - watch.last_alert.get(condition.id, float("-inf")) < cooldown
                    if fired and not quiet:
                        watch.last_alert[condition.id] = time.monotonic()
                        watch.alerts += 1
                        state.telemetry.alerts.inc()
                        alert = {"watch": watch.id, "condition": condition.id, "question": condition.question,
                                 "answer": result.text, "timestamp": frame.timestamp, "jpeg_b64": jpeg(frame.image)}  # fmt: skip
                        await queue.put(sse(alert, "alert"))
                await queue.put(sse({"watch": watch.id, "frame": watch.frames, "timestamp": frame.timestamp,
                                     "conditions": answers, "latency_ms": (time.perf_counter() - started) * 1000},
                                    "result"))  # fmt: skip
            await queue.put(sse({"id": watch.id, "state": "ended", "frames": watch.frames}, "status"))
        except Exception as error:
            await queue.put(sse(stream_error(error), "error"))
        finally:
            await queue.put(_END)

    producer = asyncio.create_task(produce())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                yield sse({"watch": watch.id, "time": time.time()}, "heartbeat")
                continue
            if item is _END:
                return
            yield item
    finally:
        watch.stopped.set()
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        state.watches.watches.pop(watch.id, None)
        state.telemetry.watches.set(len(state.watches.watches))
        resolver.__exit__(None, None, None)


def jpeg(image) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


@router.get("/v1/watch")
async def list_watches(request: Request):
    """The watches running, with their counters (credentials in sources masked)."""
    return {"watches": [watch.describe() for watch in request.app.state.watches.watches.values()]}


@router.delete("/v1/watch/{watch_id}")
async def stop_watch(watch_id: str, request: Request):
    """Stop a watch; its event stream ends with a final status."""
    watch = request.app.state.watches.watches.get(watch_id)
    if watch is None:
        raise APIError(404, f"No watch {watch_id!r} is running.")
    watch.stopped.set()
    return {"id": watch_id, "state": "stopping"}
