"""``/v1/watch``: a watch (trio_core.watch) over HTTP, its events as server-sent events.

The watch logic is the core's, the same as ``trio watch``'s: this module resolves the
source under the server's rules (media roots, SSRF guard), runs the watch on a worker
thread that takes the model's turn for each frame, and streams each event as SSE: the event
name is its ``type``, the data its JSON (an alert's with the frame as ``jpeg_b64``). A
heartbeat goes out when nothing else did for a while; closing the stream stops the watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..sources import uri_scheme
from ..sources.stream import is_live_http
from ..watch import Condition, Watch, WatchSettings
from .errors import APIError, stream_error
from .media import MediaResolver
from .streams import sse

router = APIRouter(tags=["watch"])
HEARTBEAT_S = 10.0
BACKLOG = 64  # events a slow client may fall behind before the watch waits for it


class WatchRequest(BaseModel):
    source: str = Field(
        description="A path under the media roots, an http(s) video URL, or a URI a frame-source plugin opens "
        "(rtsp://..., webcam://0)."
    )
    conditions: list[Condition] = Field(min_length=1, max_length=16)
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="The watch's id in events, MQTT topics and Home Assistant (default: a new one).",
    )  # fmt: skip
    sinks: list[str] = Field(
        default_factory=list, max_length=8,
        description="Where alerts also go, by URL: mqtt://host:1883, https://hook (signed), ntfy://topic, ...",
    )  # fmt: skip
    # The watch's own settings: bounds, defaults and help from WatchSettings, the one definition.
    fps: float = WatchSettings.model_fields["fps"]
    confirm: int = WatchSettings.model_fields["confirm"]
    clear: int = WatchSettings.model_fields["clear"]
    window: int = WatchSettings.model_fields["window"]
    threshold: float = WatchSettings.model_fields["threshold"]
    realtime: bool = WatchSettings.model_fields["realtime"]
    max_tokens: int = WatchSettings.model_fields["max_tokens"]
    # These two differ on the server: the default cooldown is the server's, and the size is clamped.
    cooldown_s: float | None = Field(
        None, ge=0.0, le=86_400, description="Seconds of the source after an alert's start before it may start again."
    )
    max_side: int | None = Field(None, ge=28, description="Longest frame side (aspect ratio kept; clamped).")


class WatchManager:
    def __init__(self, app):
        self.app = app
        self.watches: dict[str, Watch] = {}

    async def stop_all(self) -> None:
        for watch in list(self.watches.values()):
            watch.stop()


@router.post("/v1/watch", responses={200: {"content": {"text/event-stream": {}}}})
async def start_watch(body: WatchRequest, request: Request):
    """Start watching; the response is the watch's event stream (closing it stops the watch)."""
    state = request.app.state
    engine = state.host.ready_engine()
    manager: WatchManager = state.watches
    if len(manager.watches) >= state.settings.max_watches:
        raise APIError(429, f"Already {len(manager.watches)} watches running (the most this server runs).",
                       headers={"Retry-After": "30"})  # fmt: skip
    if body.name is not None and body.name in manager.watches:
        raise APIError(409, f"A watch called {body.name!r} is already running: stop it or pick another name.")
    resolver = MediaResolver(state.settings)
    for sink in body.sinks:
        if (uri_scheme(sink) or "").lower() in ("http", "https"):  # the server posts there: the media URL rules apply
            await run_in_threadpool(resolver.check_host, sink.partition("#")[0], "sink")
    await run_in_threadpool(state.alerts.sinks, body.sinks)  # an unknown scheme or a bad URL: 400 now
    target = await run_in_threadpool(watch_target, resolver, body.source)
    cooldown = body.cooldown_s if body.cooldown_s is not None else state.settings.alert_cooldown_s
    settings = WatchSettings(
        **body.model_dump(include={"fps", "confirm", "clear", "window", "threshold", "realtime", "max_tokens"}),
        cooldown_s=cooldown,
        max_side=min(body.max_side or engine.config.max_side, state.settings.request_max_side),
    )
    loop = asyncio.get_running_loop()
    watch = Watch(
        engine, target, body.conditions, settings, label=body.source, turn=model_turn(state.host, loop),
        on_answer=state.telemetry.answered, watch_id=body.name, alerts=state.alerts, sinks=body.sinks,
    )  # fmt: skip
    # Opened now: no source for it, nothing listening, a refused password are a 4xx, not an event in the stream.
    await run_in_threadpool(watch.open)
    return StreamingResponse(events(request, watch, resolver), media_type="text/event-stream")


def watch_target(resolver: MediaResolver, source: str):
    """What the frame source opens: a checked local path, a fetched http(s) video, or a plugin's URI as it is."""
    scheme = (uri_scheme(source) or "").lower()
    if scheme in ("http", "https") and is_live_http(source):
        resolver.check_host(source, what="source")  # a live MJPEG or HLS stream is read, not downloaded
        return source
    if scheme in ("http", "https", "data", "file"):
        return resolver.video(source, what="source")
    return source  # rtsp://, webcam://: cameras live on private networks; their source reads them


def model_turn(host, loop: asyncio.AbstractEventLoop):
    """For the watch's thread: each frame waits for the model's turn, whatever the request queue holds
    (a busy server slows a watch down, never ends it), and uses the engine loaded then."""

    @contextlib.contextmanager
    def turn():
        held = host.turn(queue=False)
        engine = asyncio.run_coroutine_threadsafe(held.__aenter__(), loop).result()
        try:
            yield engine
        finally:
            asyncio.run_coroutine_threadsafe(held.__aexit__(None, None, None), loop).result()

    return turn


_END = object()


async def events(request: Request, watch: Watch, resolver: MediaResolver):
    state = request.app.state
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    room = threading.BoundedSemaphore(BACKLOG)  # the watch waits while a slow client is this far behind
    # Registered here, not in the handler: a stream that never starts then holds no slot.
    state.watches.watches[watch.id] = watch
    state.telemetry.watches.set(len(state.watches.watches))

    def produce() -> None:  # on a worker thread: the watch reads and runs the model there
        def put(item) -> None:
            while not room.acquire(timeout=0.5):
                if watch.stopped:
                    return
            loop.call_soon_threadsafe(queue.put_nowait, item)

        try:
            for event in watch:
                if event.type == "alert":
                    state.telemetry.alerts.inc()
                put(sse(event.to_dict(jpeg=True), event.type))
        except Exception as error:  # the stream says what went wrong, then ends
            put(sse(watch.event("error", message=stream_error(error)["error"]["message"]).to_dict(), "error"))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    producer = loop.run_in_executor(None, produce)
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                yield sse(watch.event("heartbeat").to_dict(), "heartbeat")
                continue
            if item is _END:
                return
            room.release()
            yield item
    finally:
        watch.stop()
        with contextlib.suppress(ValueError):  # a producer waiting for room may go on to see the stop
            room.release()
        await asyncio.gather(producer, return_exceptions=True)
        state.watches.watches.pop(watch.id, None)
        state.telemetry.watches.set(len(state.watches.watches))
        resolver.__exit__(None, None, None)


@router.get("/v1/watch")
async def list_watches(request: Request):
    """The watches running, with their counters (credentials in sources masked)."""
    return {"watches": [watch.describe() for watch in request.app.state.watches.watches.values()]}


@router.delete("/v1/watch/{watch_id}")
async def stop_watch(watch_id: str, request: Request):
    """Stop a watch; its event stream ends with an ``ended`` event."""
    watch = request.app.state.watches.watches.get(watch_id)
    if watch is None:
        raise APIError(404, f"No watch {watch_id!r} is running.")
    watch.stop()
    return {"id": watch_id, "state": "stopping"}
