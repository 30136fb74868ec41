"""The dashboard at ``/``: every watch with its latest frame and conditions, live; the event timeline; a login.

Server-rendered (Jinja2 templates beside this module) with a little JavaScript
(``static/dashboard.js``, no build step): the page listens to ``/v1/watch/live`` and, when a
condition changes, toggles its state in place; when the watches or the events change it
fetches their server-rendered fragments again, so there is one rendering of each.

Behind API keys, ``/login`` takes a key in a form and opens a session (:mod:`.auth`): the
key itself never leaves the server's memory and never appears in a URL.

Every response carries :data:`SECURITY_HEADERS`: the pages run only the scripts and styles the
server sends as files (no inline script, no handler attributes), may not be framed, and send no
referrer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from .auth import COOKIE, SESSION_S, Session, key_in, logged_in, require_own_page

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
TIMELINE = 30  # events on the page
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]  # fmt: skip


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (the API's too: they cost nothing there)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                given = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in given]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _render(request: Request, name: str, status_code: int = 200, headers=None, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request):
    if logged_in(request):
        return RedirectResponse("/", status_code=303)
    return _render(request, "login.html")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, key: str = Form("", max_length=512)):
    require_own_page(request)
    if not request.app.state.settings.keys():
        return RedirectResponse("/", status_code=303)
    wrong_keys = request.app.state.wrong_keys
    wait = wrong_keys.wait_s(request)
    if wait:  # the key is not even compared: see WrongKeys
        return _render(request, "login.html", status_code=429, headers={"Retry-After": str(wait)},
                       problem=wrong_keys.sentence(wait))  # fmt: skip
    if not key_in(key.strip(), request.app.state.settings.keys()):
        wrong_keys.failed(request)
        return _render(request, "login.html", status_code=401, problem="That key is not one of this server's keys.")
    sid, _ = request.app.state.sessions.open()
    answer = RedirectResponse("/", status_code=303)
    # Secure where the browser speaks https: to trio itself, or to the TLS proxy in front (TRIO_PUBLIC_URL).
    public = request.app.state.settings.public_url or ""
    secure = request.url.scheme == "https" or public.lower().startswith("https://")
    answer.set_cookie(COOKIE, sid, max_age=int(SESSION_S), httponly=True, samesite="strict", secure=secure,
                      path="/")  # fmt: skip
    return answer


@router.post("/logout")
async def logout(request: Request):
    require_own_page(request)
    request.app.state.sessions.close(request)
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    watch: str | None = Query(None, max_length=64),
    condition: str | None = Query(None, max_length=64),
):
    session = logged_in(request)
    if not session:
        return RedirectResponse("/login", status_code=303)
    state = request.app.state
    context = await _context(request, watch, condition)
    host = state.host
    return _render(
        request, "dashboard.html", **context, model=host.config.model, status=host.status,
        csrf=session.csrf if isinstance(session, Session) else "", logged_in=isinstance(session, Session),
    )  # fmt: skip


@router.get("/dashboard/watches", response_class=HTMLResponse)
async def watches_fragment(request: Request):
    if not logged_in(request):
        return Response(status_code=401)
    return _render(request, "_watches.html", watches=request.app.state.watches.listing())


@router.get("/dashboard/events", response_class=HTMLResponse)
async def events_fragment(
    request: Request,
    watch: str | None = Query(None, max_length=64),
    condition: str | None = Query(None, max_length=64),
):
    if not logged_in(request):
        return Response(status_code=401)
    return _render(request, "_events.html", events=await _events(request, watch, condition), watch=watch or "",
                   condition=condition or "")  # fmt: skip


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(request: Request, event_id: int):
    if not logged_in(request):
        return RedirectResponse("/login", status_code=303)
    event = await run_in_threadpool(request.app.state.alerts.store.get, event_id) if 0 < event_id < 2**63 else None
    if event is None:
        return _render(request, "event.html", status_code=404, event=None, event_id=event_id)
    return _render(request, "event.html", event=event, event_id=event_id)


async def _events(request: Request, watch: str | None, condition: str | None) -> list[dict]:
    store = request.app.state.alerts.store
    return await run_in_threadpool(store.query, watch=watch or None, condition=condition or None, limit=TIMELINE)


async def _context(request: Request, watch: str | None, condition: str | None) -> dict:
    listing = request.app.state.watches.listing()
    stored = await run_in_threadpool(request.app.state.alerts.store.watch_names)
    return {
        "watches": listing,
        "events": await _events(request, watch, condition),
        "watch": watch or "",
        "watch_names": sorted({item["id"] for item in listing} | set(stored)),
        "condition": condition or "",
    }
