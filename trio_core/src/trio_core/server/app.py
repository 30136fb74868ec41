"""The HTTP API: ``create_app(engine_config, server_settings)`` gives the FastAPI application."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..config import EngineConfig, load_config
from ..errors import TrioError
from ..plugins import registry
from . import errors
from .auth import require_admin, require_key
from .errors import APIError
from .host import ModelHost
from .media_ids import MediaById
from .settings import ServerSettings
from .telemetry import Telemetry

log = logging.getLogger("trio.server")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(config: EngineConfig, settings: ServerSettings, engine=None) -> FastAPI:
    """The application; the model loads in the background when the app starts (``/healthz`` says when).

    ``engine``: an already loaded TrioCore to serve instead of loading ``config``'s model.
    """
    from .analysis import router as analysis_router
    from .auth import Sessions, WrongKeys
    from .completions import router as completions_router
    from .dashboard import SecurityHeaders, static_files
    from .dashboard import router as dashboard_router
    from .events import router as events_router
    from .watch import WatchManager
    from .watch import router as watch_router

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        from ..watch.service import SIGNAL_DRAIN_S, EndingSignals

        loading = asyncio.create_task(app.state.host.load())
        loop = asyncio.get_running_loop()
        app.state.watches.start(loop)  # they wait for the model, then run
        # SIGHUP reloads the watches file (only where the server runs on the main thread: `trio serve`).
        restore = app.state.watches.service.reload_on_sighup(
            lambda: loop.call_soon_threadsafe(lambda: loop.create_task(reload_watches_file(app)))
        )

        def end_watches(reason: str) -> None:  # in the signal handler: asks every watch to end, waits for none
            for watch in list(app.state.watches.watches.values()):
                watch.stop(reason)
            app.state.watches.service.stop_all(0.0, reason)

        # SIGTERM (systemd, docker stop) and Ctrl-C: every watch ends at once with its reason (terminated,
        # interrupted), so the streams close and uvicorn, whose handlers these pass the signal on to, shuts down.
        signals = EndingSignals(end_watches, chain=True)
        signals.__enter__()
        try:
            yield
        finally:
            loading.cancel()
            restore()
            signals.__exit__()
            await app.state.watches.stop_all(signals.reason or "stopped")
            await app.state.host.close()
            await run_in_threadpool(app.state.watches.service.close, SIGNAL_DRAIN_S if signals.reason else 0.0)

    app = FastAPI(
        title="trio",
        summary="Local vision-language answers about images, videos and cameras.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # served below, behind the keys; no /docs or /redoc (inline script, scripts from a CDN)
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.telemetry = Telemetry()
    app.state.media_ids = MediaById(settings.media_ids_mb)
    app.state.host = ModelHost(config, queue_size=settings.queue_size, request_timeout_s=settings.request_timeout_s)
    app.state.host.engine = engine
    app.state.host.on_queue_change = app.state.telemetry.queue_depth.set
    app.state.watches = WatchManager(app)
    app.state.alerts = app.state.watches.service.alerts  # the event store and the sinks
    app.state.reloading = False
    app.state.sessions = Sessions()
    app.state.wrong_keys = WrongKeys(settings.wrong_keys_per_minute)
    errors.install(app)
    app.add_middleware(RequestContext, settings=settings, telemetry=app.state.telemetry)
    app.add_middleware(SecurityHeaders)  # outermost: on RequestContext's own answers (413) too

    guarded = [Depends(require_key)]
    app.include_router(health_router)
    app.include_router(api_router, dependencies=guarded)
    app.include_router(analysis_router, dependencies=guarded)
    app.include_router(completions_router, dependencies=guarded)
    app.include_router(watch_router, dependencies=guarded)
    app.include_router(events_router, dependencies=guarded)
    app.include_router(dashboard_router)  # its pages ask for a login themselves
    app.mount("/static", static_files(), name="static")
    return app


# Health and operations ---------------------------------------------------------------------------

health_router = APIRouter()
api_router = APIRouter()


@health_router.get("/healthz", tags=["operations"], responses={503: {"description": "The model is not loaded yet."}})
async def healthz(request: Request):
    """Liveness: 200 once a model is loaded, 503 while it loads (or when it failed to)."""
    host = request.app.state.host
    if host.engine is None:
        return JSONResponse({"status": host.status}, status_code=503, headers={"Retry-After": "5"})
    return {"status": "ok"}


@api_router.get("/health", tags=["operations"])
async def health(request: Request):
    """What is loaded and how the server is configured."""
    state = request.app.state
    host = state.host
    engine = host.engine
    loaded = registry()
    return {
        "status": host.status if not state.reloading else "reloading",
        "error": host.error,
        "model": host.config.model,
        "backend": engine.model.backend if engine else None,
        "family": engine.model.family.name if engine else None,
        "device": engine.model.device if engine else None,
        "optimizers": [optimizer.name for optimizer in engine.optimizers] if engine else [],
        "plugins": plugin_names(loaded),
        "queue": {"waiting": host.waiting, "running": host.running, "size": host.queue_size},
        "watches": len(state.watches.watches),
        "config": host.config.model_dump(mode="json"),
        "server": state.settings.model_dump(mode="json", exclude={"api_keys", "admin_keys"}),
    }


def plugin_names(loaded) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for item in loaded.items:
        names.setdefault(item.kind, []).append(item.name)
    return {kind: sorted(set(items)) for kind, items in names.items()}


@api_router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request):
    """The OpenAPI document, behind the keys like the API it describes."""
    return JSONResponse(request.app.openapi())


@api_router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(request: Request):
    """Prometheus metrics (text format)."""
    return PlainTextResponse(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)


class ReloadRequest(BaseModel):
    """The model settings to load instead (any field of trio's engine configuration); unset ones are kept."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="Hub id or local model directory.")


@api_router.post("/v1/admin/reload", tags=["operations"])
async def reload(body: ReloadRequest, request: Request):
    """Drain in-flight requests and load another model; on failure the current one keeps serving."""
    state = request.app.state
    require_admin(request)
    changes = body.model_dump(exclude_none=True)
    try:
        config = load_config(state.host.config, **changes)
    except TrioError as error:
        raise APIError(400, str(error)) from None
    state.reloading = True
    try:
        ok, message = await state.host.reload(config)
    finally:
        state.reloading = False
    if not ok:
        raise APIError(422, f"Reload failed, still serving {state.host.config.model}: {message}")
    return {"status": "ok", "model": config.model, "message": message}


@api_router.post("/v1/admin/watches/reload", tags=["operations"])
async def reload_watches(request: Request):
    """Read the watches file again (as SIGHUP does): new watches start, removed ones stop, changed ones restart,
    the others run on untouched. A malformed file is a 400 naming its line and key, and changes nothing."""
    require_admin(request)
    if request.app.state.settings.watches is None:
        raise APIError(400, "This server has no watches file: start it with --watches FILE.")
    try:
        changes = await run_in_threadpool(request.app.state.watches.service.reload)
    except TrioError as error:
        raise APIError(400, str(error)) from None
    request.app.state.watches.count()
    return {"status": "ok", **changes}


async def reload_watches_file(app: FastAPI) -> None:
    applied, sentence = await run_in_threadpool(app.state.watches.service.reload_said)
    if not applied:
        log.error("%s", sentence)
    app.state.watches.count()


# Middleware ---------------------------------------------------------------------------------------


class BodyTooLarge(HTTPException):
    def __init__(self, limit_mb: float):
        super().__init__(413, f"The request body is larger than {limit_mb:g} MB.")


class RequestContext:
    """Request ids, the body-size cap (on the bytes actually read, chunked or not), access logs and counts."""

    def __init__(self, app, settings: ServerSettings, telemetry: Telemetry):
        self.app, self.settings, self.telemetry = app, settings, telemetry
        self.limit = int(settings.max_body_mb * 2**20)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            response = errors.error_response(413, f"The request body is larger than {self.settings.max_body_mb:g} MB.")
            await response(scope, receive, send_with_id)
            self.log(scope, request_id, 413, started)
            return
        read = {"bytes": 0}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                read["bytes"] += len(message.get("body", b""))
                if read["bytes"] > self.limit:
                    raise BodyTooLarge(self.settings.max_body_mb)
            return message

        try:
            await self.app(scope, counted_receive, send_with_id)
        finally:
            self.log(scope, request_id, status["code"], started)

    def log(self, scope, request_id: str, status: int, started: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.telemetry.requests.labels(path, str(status)).inc()
        log.info(
            "%s %s %s %.1f ms",
            scope.get("method"),
            path,
            status,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": request_id, "status": status, "path": path},
        )
