"""Notifications through Apprise, installed by ``pip install 'trio-core[notify]'``.

The sink's descriptor (:mod:`trio_core.sinks.apprise`) loads this module by name when a
notification URL is used, so trio-core without the extra neither imports nor needs Apprise.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import apprise

from ..credentials import masked
from ..errors import ConfigError
from ..sinks.base import Delivery, SinkConnection, SinkError

TAKEN = {"http", "https", "mqtt", "mqtts"}  # the webhook and MQTT sinks' schemes


def schemes() -> tuple[str, ...]:
    """Every URL scheme Apprise knows, but those trio's own sinks take."""
    found: set[str] = set()
    for schema in apprise.Apprise().details()["schemas"]:
        found.update(schema.get("protocols") or ())
        found.update(schema.get("secure_protocols") or ())
    return tuple(sorted(found - TAKEN))


class AppriseConnection(SinkConnection):
    def __init__(self, url: str):
        self.label = masked(url)
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise ConfigError(f"Apprise cannot use {self.label}: check it against the Apprise wiki for its service.")

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
            if not self.apprise.notify(body=body, title=title, notify_type=kind, attach=attachment):
                raise SinkError(f"The notification to {self.label} failed (Apprise's log says why).")
