"""``/v1/watch``: a watch (trio_core.watch) over HTTP, its events as server-sent events.

The watch logic is the core's, the same as ``trio watch``'s: this module resolves the
source under the server's rules (media roots, SSRF guard), runs the watch on a worker
thread that takes the model's turn for each frame, and streams each event as SSE: the event
name is its ``type``, the data its JSON (an alert's with the frame as ``jpeg_b64``). A
heartbeat goes out when nothing else did for a while; closing the stream stops the watch.

Every watch starts through the core's front door, :class:`~trio_core.watch.service.WatchService`
(the same as ``trio watch``'s). Watches that outlive a request are its supervisor's:
the standing watches of ``--watches FILE`` (reloaded on SIGHUP or ``POST
/v1/admin/watches/reload``) and those started with ``"background": true`` (the dashboard's).
``GET /v1/watch`` lists them all with their state; ``GET /v1/watch/live`` streams every
watch's events and changes of state (the dashboard's live view, :mod:`.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..errors import TrioError
from ..frames import jpeg_bytes
from ..outbound import AddressRefused
from ..sources import uri_scheme
from ..sources.stream import PinnedURL, is_hls, is_live_http
from ..sources.webcam import NotACaptureDevice, check_requested_device
from ..watch import Condition, Watch, WatchSettings
from ..watch.service import WatchService
from ..watch.standing import Entry, Supervisor, WatchSpec
from .errors import APIError, stream_error
from .live import LiveHub
from .media import MediaResolver
from .streams import sse

router = APIRouter(tags=["watch"])
HEARTBEAT_S = 10.0
RESERVED_S = 60.0  # a slot taken for a watch being started, if its stream never begins (the client left first)
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
    background: bool = Field(
        False, description="Run on in the server, like a standing watch, until stopped (DELETE): the answer is its "
        "listing, not an event stream.",
    )  # fmt: skip


class WatchManager:
    """The server's watches: those streaming to a request (``watches``) and the service's supervisor's (standing,
    background); the service also holds the event store and the sinks (``app.state.alerts``)."""

    def __init__(self, app):
        state = app.state
        self.app = app
        self.watches: dict[str, Watch] = {}
        self.hub = LiveHub()
        self.service = WatchService(
            state.settings.events_dir, public_url=state.settings.public_url, watches_file=state.settings.watches,
            engine=lambda: state.host.engine, on_answer=state.telemetry.answered, publish=self._published,
            changed=self._changed,
        )  # fmt: skip
        self.resolvers: dict[str, MediaResolver] = {}  # what a background watch's fetched video needs, until removed
        self.reserved: dict[str, float] = {}  # slots of watches being started: token -> when (time.monotonic())

    @property
    def supervisor(self) -> Supervisor:
        return self.service.supervisor

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """At start-up: the standing watches of the file run, each frame waiting for the model's turn."""
        self.hub.bind(loop)
        self.supervisor.turn = model_turn(self.app.state.host, loop)
        self.supervisor.start()
        self.count()

    def _published(self, standing, event) -> None:
        if event.type == "alert":
            self.app.state.telemetry.alerts.inc()
        resolver = self.resolvers.get(standing.name)
        if resolver is not None:
            reword_error(event, resolver)
        self.hub.event(event)

    def _changed(self, standing) -> None:
        self.hub.watch(self._in_client_words(standing.describe()))

    def _in_client_words(self, listing: dict) -> dict:
        """A background watch's listing with the server's files it was given (a fetched video) in the client's
        words: its error would name the temporary file."""
        resolver = self.resolvers.get(listing["id"])
        if resolver is not None and isinstance(listing.get("error"), str):
            listing = {**listing, "error": resolver.in_client_words(listing["error"])}
        return listing

    def find(self, watch_id: str) -> Watch | None:
        standing = self.supervisor.watches.get(watch_id)
        return standing.watch if standing is not None else self.watches.get(watch_id)

    def listing(self) -> list[dict]:
        streams = [{**watch.describe(), "kind": "stream", "state": "running"} for watch in self.watches.values()]
        return streams + [self._in_client_words(listing) for listing in self.supervisor.describe()]

    def api_started(self) -> int:
        """Watches callers started (streams, background ones until removed: an ended one still holds what it
        fetched, and those being started): ``max_watches`` bounds these, not the file's."""
        background = sum(standing.kind == "background" for standing in list(self.supervisor.watches.values()))
        now = time.monotonic()
        for token, since in list(self.reserved.items()):
            if now - since > RESERVED_S:
                self.reserved.pop(token, None)
        return len(self.watches) + background + len(self.reserved)

    def reserve(self, limit: int) -> str:
        """Take a slot for a watch about to start, or 429: checked and taken with no await between, so requests
        that arrive together cannot all pass the check. The slot is the watch's once it runs (:meth:`settle`)."""
        started = self.api_started()
        if started >= limit:
            raise APIError(429, f"Already {started} watches running (the most this server runs).",
                           headers={"Retry-After": "30"})  # fmt: skip
        token = uuid.uuid4().hex
        self.reserved[token] = time.monotonic()
        return token

    def settle(self, token: str) -> None:
        """The watch of a reserved slot now counts itself (or failed to start)."""
        self.reserved.pop(token, None)

    def count(self) -> None:
        running = sum(standing.running for standing in list(self.supervisor.watches.values()))
        self.app.state.telemetry.watches.set(len(self.watches) + running)

    async def stop_all(self, reason: str = "stopped") -> None:
        """Stop every watch, their ``ended`` events saying ``reason`` (``terminated`` on SIGTERM)."""
        for watch in list(self.watches.values()):
            watch.stop(reason)
        await run_in_threadpool(self.service.stop_all, 10.0, reason)
        for resolver in self.resolvers.values():
            resolver.__exit__(None, None, None)


@router.post("/v1/watch", responses={200: {"content": {"text/event-stream": {}}}})
async def start_watch(body: WatchRequest, request: Request):
    """Start watching; the response is the watch's event stream (closing it stops the watch)."""
    state = request.app.state
    engine = state.host.ready_engine()
    manager: WatchManager = state.watches
    if body.name is not None and (body.name in manager.watches or body.name in manager.supervisor.watches):
        raise APIError(409, f"A watch called {body.name!r} already exists: stop it or pick another name.")
    slot = manager.reserve(state.settings.max_watches)
    resolver = MediaResolver(state.settings, engine.config.max_pixels)
    cooldown = body.cooldown_s if body.cooldown_s is not None else state.settings.alert_cooldown_s
    settings = WatchSettings(
        **body.model_dump(include={"fps", "confirm", "clear", "window", "threshold", "realtime", "max_tokens"}),
        cooldown_s=cooldown,
        max_side=min(body.max_side or engine.config.max_side, state.settings.request_max_side),
    )
    try:
        # Every sink connects only where a request may reach (trio_core.outbound), pinned to the addresses checked:
        # a refused receiver is a 403, an unknown scheme or a bad URL a 400, now.
        try:
            await run_in_threadpool(manager.service.check_sinks, body.sinks, resolver.reach)
        except AddressRefused as error:
            raise APIError(403, str(error)) from None
        target = await run_in_threadpool(watch_target, resolver, body.source)
        if body.background:
            listing = await start_background(manager, body, target, settings, resolver)
            manager.settle(slot)
            return listing
        loop = asyncio.get_running_loop()
        # Opened now: no source for it, nothing listening, a refused password are a 4xx, not an event in the stream.
        watch = await run_in_threadpool(
            lambda: manager.service.start(
                engine, target, body.conditions, settings, name=body.name, label=client_label(body.source),
                turn=model_turn(state.host, loop), on_answer=state.telemetry.answered, sinks=body.sinks,
            )
        )  # fmt: skip
    except BaseException as error:  # the slot is free, what was fetched goes, the error names what the client sent
        manager.settle(slot)
        resolver.__exit__(type(error), error, error.__traceback__)
        raise
    return StreamingResponse(events(request, watch, resolver, slot), media_type="text/event-stream")


def reword_error(event, resolver: MediaResolver) -> None:
    """An ``error`` event's message in the client's words: it may name a file fetched for the watch."""
    if event.type == "error" and isinstance(event.details.get("message"), str):
        event.details["message"] = resolver.in_client_words(event.details["message"])


def client_label(source: str) -> str:
    """How a watch's source is shown: as the client gave it, but an inline video as just that, not its bytes."""
    return "an inline video (data: URL)" if source.startswith("data:") else source


async def start_background(manager: WatchManager, body: WatchRequest, target, settings, resolver) -> JSONResponse:
    import uuid

    name = body.name or uuid.uuid4().hex[:12]
    spec = WatchSpec(source=str(target), conditions=body.conditions, sinks=body.sinks, **settings.model_dump())
    if isinstance(target, PinnedURL):  # the spec's plain string would be read unpinned, by FFmpeg
        spec.source = target
    # Opened once now, as a stream's watch is: no source for it or a refused password is a 4xx, not a state (the
    # caller lets go of the resolver if this fails).
    engine = manager.app.state.host.ready_engine()
    # Then let go of it: the supervisor's watch opens its own (a webcam is one device, a camera counts connections).
    label = client_label(body.source)
    await run_in_threadpool(lambda: manager.service.probe(engine, target, body.conditions, settings, label=label))
    entry = Entry(name, spec, {"source": label, "sinks": body.sinks})
    try:
        standing = await run_in_threadpool(manager.supervisor.add, entry)
    except TrioError:  # the name was taken meanwhile
        raise APIError(409, f"A watch called {name!r} already exists: stop it or pick another name.") from None
    manager.resolvers[name] = resolver
    manager.count()
    return JSONResponse(standing.describe(), status_code=201)


def watch_target(resolver: MediaResolver, source: str):
    """What the frame source opens: a checked local path, a fetched http(s) video, or a plugin's URI as it is."""
    scheme = (uri_scheme(source) or "").lower()
    if scheme in ("http", "https") and is_live_http(source):  # a live stream is read, not downloaded
        if is_hls(source) and not resolver.settings.allow_private_urls:  # its segments may be on any host
            raise APIError(403, "A request may not watch an HLS playlist, whose segments FFmpeg would fetch from "
                           "hosts trio cannot check first: use an MJPEG or rtsp:// URL (or the server's watches file, "
                           "or --allow-private-urls).")  # fmt: skip
        resolver.check_host(source, what="source")
        return source if is_hls(source) else PinnedURL(source, resolver.reach)  # MJPEG: trio reads it, pinned
    if scheme in ("http", "https", "data", "file"):
        return resolver.video(source, what="source")
    if scheme == "webcam":  # FFmpeg's input devices and filters can read files and URLs: only cameras, test patterns
        try:
            check_requested_device(source)
        except NotACaptureDevice as error:
            raise APIError(403, str(error)) from None
        except TrioError as error:
            raise APIError(400, str(error)) from None
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


async def events(request: Request, watch: Watch, resolver: MediaResolver, slot: str):
    state = request.app.state
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    room = threading.BoundedSemaphore(BACKLOG)  # the watch waits while a slow client is this far behind
    # Registered here, not in the handler: a stream that never starts holds its reserved slot a minute at most.
    state.watches.watches[watch.id] = watch
    state.watches.settle(slot)
    state.watches.count()

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
                reword_error(event, resolver)
                state.watches.hub.event(event)
                put(sse(event.to_dict(jpeg=True), event.type))
        except Exception as error:  # the stream says what went wrong, then ends
            message = resolver.in_client_words(stream_error(error)["error"]["message"])
            put(sse(watch.event("error", message=message).to_dict(), "error"))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    producer = loop.run_in_executor(None, produce)
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                yield sse(watch.event("heartbeat").to_dict(), "heartbeat")
                continue
            if item is _END:
                return
            room.release()
            yield item
    finally:
        # Reached when the watch ended, and when the client went (the stream's task is cancelled then). No await
        # here: a cancelled task's next await raises again, and what follows it would never run (the watch would
        # stay listed and hold its slot for ever). The producer ends with the frame in progress, recording the
        # watch's ended event; what was fetched for it is let go of after.
        watch.stop("client gone")
        with contextlib.suppress(ValueError):  # a producer waiting for room may go on to see the stop
            room.release()
        forget_stream(state.watches, watch.id)

        def done(_) -> None:  # after the watch's ended event: the live view then hears it is gone
            state.watches.hub.removed(watch.id)
            resolver.__exit__(None, None, None)

        producer.add_done_callback(done)


def forget_stream(manager: WatchManager, watch_id: str) -> None:
    """A stream's watch no longer counts: out of the listing, its slot free (it may still finish its frame)."""
    if manager.watches.pop(watch_id, None) is not None:
        manager.count()


@router.get("/v1/watch")
async def list_watches(request: Request):
    """Every watch: streaming to a request (``kind`` stream), from the watches file (standing) or started in the
    background, with its ``state`` (running, reconnecting, retrying, failed, ended, stopped), its ``error``, and
    its counters (credentials in sources masked)."""
    return {"watches": request.app.state.watches.listing()}


@router.get("/v1/watch/live", responses={200: {"content": {"text/event-stream": {}}}})
async def live_updates(request: Request):
    """Every watch's events (``result``, ``alert``, ``cleared``, ... without images) and ``watch`` listings as its
    state changes, as server-sent events: first a ``watches`` event with the current listing."""
    manager: WatchManager = request.app.state.watches
    return StreamingResponse(manager.hub.stream(request, manager.listing), media_type="text/event-stream")


@router.get("/v1/watch/{watch_id}/frame.jpg", responses={200: {"content": {"image/jpeg": {}}}})
async def latest_frame(watch_id: str, request: Request):
    """The newest frame the watch analysed, as the model saw it."""
    watch = request.app.state.watches.find(watch_id)
    frame = watch.last_frame if watch is not None else None
    if frame is None:
        raise APIError(404, f"Watch {watch_id!r} has analysed no frame yet." if watch else f"No watch {watch_id!r}.")
    data = await run_in_threadpool(jpeg_bytes, frame.image)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/v1/watch/{watch_id}")
async def stop_watch(watch_id: str, request: Request):
    """Stop a watch: a stream's (in any state) is removed at once, and its stream ends with an ``ended`` event; a
    background one is gone; a standing one stays listed as ``stopped`` until started again or the file reloaded."""
    manager: WatchManager = request.app.state.watches
    standing = manager.supervisor.watches.get(watch_id)
    if standing is not None:
        if standing.kind == "standing":
            await run_in_threadpool(standing.stop, 10.0)
        else:
            await run_in_threadpool(manager.supervisor.remove, watch_id, 10.0)
            resolver = manager.resolvers.pop(watch_id, None)
            if resolver is not None:
                resolver.__exit__(None, None, None)
            manager.hub.removed(watch_id)
        manager.count()
        return {"id": watch_id, "state": "stopped" if standing.kind == "standing" else "removed"}
    watch = manager.watches.get(watch_id)
    if watch is None:
        raise APIError(404, f"No watch {watch_id!r}.")
    watch.stop()  # its stream says ended (reason stopped) after the frame in progress, then closes
    forget_stream(manager, watch_id)
    return {"id": watch_id, "state": "removed"}


@router.post("/v1/watch/{watch_id}/start")
async def start_standing(watch_id: str, request: Request):
    """Start a standing watch again (stopped, failed or ended): it reads the source anew."""
    manager: WatchManager = request.app.state.watches
    standing = await run_in_threadpool(manager.supervisor.start_watch, watch_id)
    if standing is None:
        raise APIError(404, f"No standing watch {watch_id!r}" + (" (it streams to a request)." if watch_id in
                       manager.watches else "."))  # fmt: skip
    manager.count()
    return standing.describe()
