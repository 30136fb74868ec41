"""Notifications through Apprise: one URL reaches ntfy, Telegram, Pushover, email, Discord, Slack, ...

``ntfy://topic``, ``tgram://bottoken/ChatID``, ``pover://user@token``, ``mailtos://...``: any
URL Apprise knows (https://github.com/caronc/apprise/wiki) except ``http(s)://``, which are
trio's webhooks (Apprise's own ``json://`` and ``form://`` post to a URL, too). The title
says what happened ("person at driveway: alert"), the body the question, the answer and its
probability, and the snapshot is attached where the service takes attachments.

Listings, events and logs show such a URL in Apprise's own privacy form (``tgram://1...r/CHAT``,
``pover://U...1@T...4``), an ntfy topic hidden as well. A service a server's client names is
checked where it connects (:meth:`trio_core.outbound.Reach.connections`).

This descriptor imports no Apprise: the connection lives in :mod:`trio_core.notify`, installed
with ``pip install 'trio-core[notify]'``.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import AlertSink, SinkConnection, scheme_of

if TYPE_CHECKING:
    from ..outbound import Reach

# What the sink claims while Apprise is not installed, so that `--sink ntfy://...` says what to install.
COMMON_SCHEMES = (
    "discord", "form", "gotify", "gotifys", "json", "mailto", "mailtos", "matrix", "matrixs", "msteams", "ntfy",
    "ntfys", "pover", "pushover", "signal", "signals", "slack", "tgram", "xml",
)  # fmt: skip


def _implementation() -> ModuleType | None:
    """:mod:`trio_core.notify`, or None without the extra."""
    try:
        return importlib.import_module("trio_core.notify")
    except ImportError as error:
        if (error.name or "").startswith("trio_core"):
            raise  # our own bug, not a missing extra
        return None


@functools.cache
def apprise_schemes() -> tuple[str, ...]:
    notify = _implementation()
    return notify.schemes() if notify is not None else COMMON_SCHEMES


class AppriseSink(AlertSink):
    name = "apprise"
    description = "Notifications through Apprise (ntfy://, tgram://, pover://, mailto://, json://, ...)."

    @property
    def schemes(self) -> tuple[str, ...]:
        return apprise_schemes()

    def describe(self) -> dict:
        shown = [scheme for scheme in self.schemes if scheme in COMMON_SCHEMES]
        return {"schemes": shown, "more_schemes": len(self.schemes) - len(shown), "description": self.description}

    keeps_reach = True

    def connect(self, url: str, reach: Reach | None = None) -> SinkConnection:
        notify = _implementation()
        if notify is None:
            raise ConfigError(
                f"Notifications like {self.label(url)} need Apprise: run `pip install 'trio-core[notify]'`."
            )
        return notify.AppriseConnection(url, reach)

    def label(self, url: str) -> str:
        """Apprise's own privacy form of ``url``; without Apprise, which parts are secret is unknown: only the
        scheme shows."""
        notify = _implementation()
        return notify.shown(url) if notify is not None else f"{scheme_of(url)}://***"
