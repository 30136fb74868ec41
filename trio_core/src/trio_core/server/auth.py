"""Who may call the server: API keys, the dashboard's sessions and their CSRF tokens.

Every endpoint but ``/healthz`` wants one of the API keys (``Authorization: Bearer KEY``) when
the server has keys; reloading wants an admin key. A browser logs in on the dashboard's
``/login`` with a key and gets a session instead: a random id in an HttpOnly,
SameSite=Strict cookie, while the key never leaves the server's memory and never appears in a
URL. A session's requests that change something (starting or stopping a watch) must also
carry the page's CSRF token in ``X-Trio-CSRF``. Keys and tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request

from .errors import APIError

COOKIE = "trio_session"
SESSION_S = 12 * 3600.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def presented_key(request: Request) -> str | None:
    """The bearer key the request sends, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def key_in(key: str | None, keys: set[str]) -> bool:
    """Whether ``key`` is one of ``keys``, compared in constant time."""
    return key is not None and any(hmac.compare_digest(key.encode(), known.encode()) for known in keys)


async def require_key(request: Request) -> None:
    """Every endpoint but /healthz needs one of the API keys, when keys are configured (or the dashboard's session,
    with its CSRF token for what changes something)."""
    keys = request.app.state.settings.keys()
    if not keys:
        return
    key = presented_key(request)
    if key is None:
        allowed = session_allows(request)
        if allowed:
            return
        if allowed is False:
            raise APIError(403, "A logged-in page must send its CSRF token (X-Trio-CSRF) to change anything.")
        raise APIError(
            401, "Missing API key: send 'Authorization: Bearer <key>'.", headers={"WWW-Authenticate": "Bearer"}
        )
    if not key_in(key, keys):
        raise APIError(401, "Invalid API key.", headers={"WWW-Authenticate": "Bearer"})


def require_admin(request: Request) -> None:
    """Reloading (the model, the watches file) needs an admin key, and is off without one."""
    admin = request.app.state.settings.admin()
    if not admin:
        raise APIError(403, "Reloading is off: start the server with an admin key (--admin-key or TRIO_ADMIN_KEYS).")
    if not key_in(presented_key(request), admin):
        raise APIError(403, "Reloading needs an admin key.")


# Sessions ---------------------------------------------------------------------------------------


@dataclass
class Session:
    """One logged-in browser: the CSRF token its page sends, and when the session ends."""

    csrf: str
    expires: float


class Sessions:
    """Logged-in browsers, in memory (a restart logs everyone out): session id -> its CSRF token and expiry."""

    def __init__(self):
        self._sessions: dict[str, Session] = {}

    def open(self) -> tuple[str, Session]:
        now = time.time()
        self._sessions = {sid: s for sid, s in self._sessions.items() if s.expires > now}
        sid = secrets.token_urlsafe(32)
        session = self._sessions[sid] = Session(secrets.token_urlsafe(24), now + SESSION_S)
        return sid, session

    def of(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE)
        session = self._sessions.get(sid) if sid else None
        if session is None or session.expires < time.time():
            return None
        return session

    def close(self, request: Request) -> None:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)


def session_allows(request: Request) -> bool | None:
    """For the API's key check: True for a logged-in browser's request, False for one without the CSRF token
    where it needs it, None when there is no session."""
    session = request.app.state.sessions.of(request)
    if session is None:
        return None
    if request.method in SAFE_METHODS:
        return True
    return hmac.compare_digest(request.headers.get("x-trio-csrf", "").encode(), session.csrf.encode())


def logged_in(request: Request) -> Session | None | bool:
    """The session; True when the server has no keys (nothing to log in to); None when a login is needed."""
    if not request.app.state.settings.keys():
        return True
    return request.app.state.sessions.of(request)
