"""Notifications through Apprise, installed by ``pip install 'trio-core[notify]'``.

The sink's descriptor (:mod:`trio_core.sinks.apprise`) loads this module by name when a
notification URL is used, so trio-core without the extra neither imports nor needs Apprise.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

import apprise

from ..credentials import masked
from ..errors import ConfigError
from ..outbound import AddressRefused
from ..sinks.base import Delivery, SinkConnection, SinkError, SinkRejected

if TYPE_CHECKING:
    from ..outbound import Reach

TAKEN = {"http", "https", "mqtt", "mqtts"}  # the webhook and MQTT sinks' schemes
# Services whose delivery trio cannot check when a request names them: they reach the server's own desktop or log
# (D-Bus, GLib, macOS, Windows, syslog: no socket to check), or connect on threads of their own (XMPP).
UNCHECKABLE = {"dbus", "glib", "gnome", "macosx", "windows", "syslog", "xmpp"}


def schemes() -> tuple[str, ...]:
    """Every URL scheme Apprise knows, but those trio's own sinks take."""
    found: set[str] = set()
    for schema in apprise.Apprise().details()["schemas"]:
        found.update(schema.get("protocols") or ())
        found.update(schema.get("secure_protocols") or ())
    return tuple(sorted(found - TAKEN))


def shown(url: str) -> str:
    """``url`` as trio shows it: Apprise's own privacy form (it knows which part of each service's URL is secret: a
    bot token in the host, a webhook's token in the path), with only the options the URL gave, and an ntfy topic
    hidden too (on a public ntfy server the topic is all it takes to read the alerts). A URL Apprise cannot read
    shows nothing but its scheme."""
    plugin = _instantiate(url)
    if plugin is None:
        return f"{urlsplit(url).scheme}://***"
    private = urlsplit(plugin.url(privacy=True))
    given = {_key(part) for part in urlsplit(url).query.split("&")}
    query = "&".join(part for part in private.query.split("&") if _key(part) in given)
    path = private.path
    netloc = private.netloc
    for topic in getattr(plugin, "topics", None) or ():
        if type(plugin).__module__ == "apprise.plugins.ntfy":
            netloc = "***" if netloc == topic else netloc
            path = re.sub(rf"(?<=/){re.escape(topic)}(?=/|$)", "***", path)
    return masked(urlunsplit((private.scheme, netloc, path, query, "")))


def _key(parameter: str) -> str:
    return unquote(parameter.split("=", 1)[0]).lower()


def _instantiate(url: str):
    """Apprise's plugin for ``url``, or None; Apprise's complaint about a URL it cannot read (which quotes the URL
    whole) goes to the debug log only."""
    with _quiet():
        return apprise.Apprise.instantiate(url)


class _Quiet(logging.Filter):
    """While trio reads a URL with Apprise (on this thread), Apprise's warnings about that URL (which quote it,
    secrets and all) are not shown: trio says what is wrong in its own sentence."""

    def __init__(self):
        super().__init__()
        self.reading = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.reading, "url", False) or record.levelno < logging.WARNING


class _Redacted(logging.Filter):
    """Apprise's own log lines name URLs (its API endpoints carry tokens in their paths): shown without their paths,
    queries and user information."""

    URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#]*)[^\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.URL.sub(self._shown, message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

    @staticmethod
    def _shown(found: re.Match) -> str:
        scheme, host = found.group(1), found.group(2).rsplit("@", 1)[-1]
        if scheme.lower() in ("http", "https") and host:
            return f"{scheme}://{host}/..."
        return f"{scheme}://..."  # a notification URL's host may be its token


_quiet_filter = _Quiet()
logging.getLogger("apprise").addFilter(_quiet_filter)
logging.getLogger("apprise").addFilter(_Redacted())


@contextlib.contextmanager
def _quiet():
    _quiet_filter.reading.url = True
    try:
        yield
    finally:
        _quiet_filter.reading.url = False


class AppriseConnection(SinkConnection):
    def __init__(self, url: str, reach: Reach | None = None):
        self.label = shown(url)
        self.reach = reach
        self.apprise = apprise.Apprise()
        plugin = _instantiate(url)
        if plugin is None or not self.apprise.add(plugin):
            raise ConfigError(f"Apprise cannot use {self.label}: check it against the Apprise wiki for its service.")
        if reach is not None:
            service = type(plugin).__module__.split(".")[2:3]
            if set(service) & UNCHECKABLE:
                raise AddressRefused(f"A request may not name {self.label}: trio cannot check where that service "
                                     "connects; give it in the server's watches file.")  # fmt: skip
            # A receiver the URL names (json://, ntfy://host, mailto://'s SMTP server) is checked now (a 403 for the
            # request), and again as it is connected to; a service's own host (api.telegram.org) only then.
            named = getattr(plugin, "host", None) if "host" in getattr(plugin, "template_tokens", {}) else None
            for host in dict.fromkeys(filter(None, (named, getattr(plugin, "smtp_host", None)))):
                reach.resolve(host, getattr(plugin, "port", None) or None, f"notification to {self.label}")

    def deliver(self, delivery: Delivery) -> None:
        event = delivery.event
        what = "alert" if delivery.kind == "alert" else "cleared"
        title = f"{event['condition']} at {event['watch']}: {what}"
        body = event.get("question") or event["condition"]
        if event.get("answer") is not None:
            body += f"\nAnswer: {event['answer']}"
        if event.get("probability") is not None:
            body += f" (p={event['probability']:.2f})"
        kind = apprise.NotifyType.WARNING if delivery.kind == "alert" else apprise.NotifyType.SUCCESS
        with tempfile.TemporaryDirectory(prefix="trio-alert-") as folder:
            attachment = None
            if delivery.snapshot is not None:  # Apprise attaches files: the JPEG goes through a temporary one
                path = Path(folder) / f"{event['watch']}-{event['condition']}.jpg"
                path.write_bytes(delivery.snapshot)
                attachment = apprise.AppriseAttachment(str(path))
            # A request's service: every socket Apprise opens for it is checked as it connects (Apprise's services
            # open their own, with requests, smtplib, ...: there is no one place to pin them).
            checked = (
                self.reach.connections(f"notification to {self.label}") if self.reach else contextlib.nullcontext()
            )
            with checked as watched:
                sent = self.apprise.notify(body=body, title=title, notify_type=kind, attach=attachment)
            if watched is not None and watched.refused is not None:
                raise SinkRejected(f"The notification to {self.label} was not sent: {watched.refused}")
            if not sent:
                raise SinkError(f"The notification to {self.label} failed (Apprise's log says why).")
