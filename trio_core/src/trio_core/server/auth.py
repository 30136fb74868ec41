"""Who may call the server: API keys, the dashboard's sessions and their CSRF tokens.

Every endpoint but ``/healthz`` wants one of the API keys (``Authorization: Bearer KEY``) when
the server has keys; reloading wants an admin key. A browser logs in on the dashboard's
``/login`` with a key and gets a session instead: a random id in an HttpOnly,
SameSite=Strict cookie, while the key never leaves the server's memory and never appears in a
URL. A session's requests that change something (starting or stopping a watch) must also
carry the page's CSRF token in ``X-Trio-CSRF``. Keys and tokens are compared in constant time.

Wrong keys are counted per client address (:class:`WrongKeys`): past the limit, the address gets
429 for the rest of the minute, whatever key it sends. ``/login`` and ``/logout`` take a browser's
request only from the server's own pages (:func:`from_own_page`): they have no session token to
check yet (login) or change only the session itself (logout).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

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
    wrong_keys = request.app.state.wrong_keys
    wrong_keys.check(request)  # a held address's keys are not even compared: a right one would tell the guesser
    if not key_in(key, keys):
        wrong_keys.failed(request)
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


# Guessing and forgery ----------------------------------------------------------------------------


class WrongKeys:
    """Wrong keys (at ``/login`` or as bearer keys) per client address, over the last minute.

    An address that sent ``most`` of them gets 429 (with ``Retry-After``) until the oldest is a
    minute old, and while it waits no key it sends is checked, the right one included: were a
    right key let in, the 429 would not slow a guesser down. Other addresses are not affected,
    nor is a browser of the held address that is already logged in (its session sends no key).
    IPv6 addresses count by their /64, which one machine usually holds whole.
    """

    WINDOW_S = 60.0
    ADDRESSES = 10_000  # addresses remembered at most; beyond, the longest known are forgotten first

    def __init__(self, most: int):
        self.most = most
        self._failures: dict[str, deque[float]] = {}  # address -> times of its latest wrong keys, oldest first

    def wait_s(self, request: Request) -> int:
        """Seconds until ``request``'s address may send a key again (0: now)."""
        failures = self._failures.get(client_address(request))
        if failures is None or len(failures) < self.most:
            return 0
        left = failures[0] + self.WINDOW_S - time.monotonic()
        return math.ceil(left) if left > 0 else 0

    def check(self, request: Request) -> None:
        """429 while ``request``'s address has sent too many wrong keys."""
        wait = self.wait_s(request)
        if wait:
            raise APIError(429, self.sentence(wait), headers={"Retry-After": str(wait)})

    def sentence(self, wait: int) -> str:
        return f"Too many wrong keys from your address: try again in {wait} s."

    def failed(self, request: Request) -> None:
        now = time.monotonic()
        address = client_address(request)
        if address not in self._failures and len(self._failures) >= self.ADDRESSES:
            self._failures = {key: times for key, times in self._failures.items() if times[-1] > now - self.WINDOW_S}
            while len(self._failures) >= self.ADDRESSES:
                del self._failures[next(iter(self._failures))]
        self._failures.setdefault(address, deque(maxlen=self.most)).append(now)


def client_address(request: Request) -> str:
    """The address wrong keys are counted by: the client's IPv4 address, or its IPv6 /64."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def from_own_page(request: Request) -> bool:
    """Whether a request may come from where a browser says it comes from: from the server's own pages (by
    ``Sec-Fetch-Site``, or else ``Origin``). A client that is no browser says neither and is let through: forging a
    request is something a page does to its visitor's browser."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")  # none: typed or bookmarked by the user
    origin = request.headers.get("origin")
    if origin is None:
        return True
    ours = {request.headers.get("host", "").lower()}
    public = request.app.state.settings.public_url
    if public:
        ours.add(urlsplit(public).netloc.lower())
    given = urlsplit(origin).netloc.lower()  # empty for "null" (a sandboxed or privacy-stripped origin)
    return bool(given) and given in ours


def require_own_page(request: Request) -> None:
    """403 for a browser's request to /login or /logout that another site's page made."""
    if not from_own_page(request):
        raise APIError(403, "Log in and out from this server's own pages: another site's page may not do it for you.")
