"""Notifications through Apprise: one URL reaches ntfy, Telegram, Pushover, email, Discord, Slack, ...

``ntfy://topic``, ``tgram://bottoken/ChatID``, ``pover://user@token``, ``mailtos://...``: any
URL Apprise knows (https://github.com/caronc/apprise/wiki) except ``http(s)://``, which are
trio's webhooks (Apprise's own ``json://`` and ``form://`` post to a URL, too). The title
says what happened ("person at driveway: alert"), the body the question, the answer and its
probability, and the snapshot is attached where the service takes attachments.

This descriptor imports no Apprise: the connection lives in :mod:`trio_core.notify`, installed
with ``pip install 'trio-core[notify]'``.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from ..credentials import masked
from ..errors import ConfigError
from .base import AlertSink, SinkConnection

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

    def connect(self, url: str) -> SinkConnection:
        notify = _implementation()
        if notify is None:
            raise ConfigError(f"Notifications like {masked(url)} need Apprise: run `pip install 'trio-core[notify]'`.")
        return notify.AppriseConnection(url)
