"""Alert sinks: where a watch's alerts go besides the event store (MQTT, webhooks, notification services).

A sink is named by a URL, the same way everywhere (``--sink``, a standing watch's ``sinks``,
``/v1/watch``'s ``sinks``): its scheme picks the :class:`AlertSink` plugin, the rest says
where and how. Deliveries never run on the watch's thread: the event store's outbox holds
them, and one worker per sink (:mod:`trio_core.watch.alerts`) delivers them in order, retrying
with backoff, so a sink that is down or slow never stops or slows a watch.

The contract a sink implements is :mod:`trio_core.sinks.base` (re-exported here); this package
is the default plugin that registers the core's own sinks. A plugin adds a sink with::

    @hookimpl
    def register_alert_sinks(register):
        register(MySink())
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .base import (
    AlertSink,
    Delivery,
    SinkConnection,
    SinkError,
    SinkRejected,
    check_options,
    connect_sink,
    find_sink,
    scheme_of,
    sink_key,
    sink_label,
)


@hookimpl
def register_alert_sinks(register):
    from .apprise import AppriseSink
    from .mqtt import MqttSink
    from .webhook import WebhookSink

    register(MqttSink())
    register(WebhookSink())
    register(AppriseSink())


__all__ = [
    "AlertSink",
    "Delivery",
    "SinkConnection",
    "SinkError",
    "SinkRejected",
    "check_options",
    "connect_sink",
    "find_sink",
    "scheme_of",
    "sink_key",
    "sink_label",
]
