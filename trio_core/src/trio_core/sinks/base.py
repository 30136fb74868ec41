"""The alert-sink contract: what a sink plugin implements, and how a sink is found by its URL.

An :class:`AlertSink` claims URL schemes and opens a :class:`SinkConnection` for one URL;
the connection delivers each :class:`Delivery` on the sink's own worker thread
(:mod:`trio_core.watch.alerts`), raising :class:`SinkError` to be retried later or
:class:`SinkRejected` to give the alert up.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..credentials import masked
from ..errors import ConfigError, TrioError
from ..outbound import AddressRefused

if TYPE_CHECKING:
    from ..outbound import Reach


class SinkError(TrioError):
    """A delivery failed and may succeed later (the receiver is down, a timeout): the outbox retries it.

    ``retry_after_s`` is the receiver's own word on when to come back (HTTP's Retry-After)."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SinkRejected(TrioError):
    """The receiver refused the delivery for good (a 4xx): retrying would not help, the outbox gives it up."""


@dataclass
class Delivery:
    """One alert for a sink: ``kind`` is ``alert`` (started) or ``cleared``; ``event`` is its JSON, with
    ``event_id``; ``snapshot`` the alert's JPEG (None for ``cleared``, or when it has none)."""

    id: int  # the outbox's id: the same on every retry (a receiver can drop duplicates by it)
    kind: str
    event: dict[str, Any]
    snapshot: bytes | None
    attempt: int
    snapshot_url: str | None = None  # the server's URL of the snapshot, where the server knows its own address


class SinkConnection(ABC):
    """A sink opened at one URL. Its methods run on the sink's own worker thread, never the watch's."""

    def announce(self, watch: dict[str, Any]) -> None:  # noqa: B027 (optional: most sinks need nothing)
        """A watch starts alerting here (``watch`` is its listing: id, source, conditions): MQTT publishes
        Home Assistant discovery and availability. Called again after a reconnection is not guaranteed:
        a sink that needs it re-announces by itself."""

    def retire(self, watch: dict[str, Any]) -> None:  # noqa: B027
        """The watch ended."""

    # Deliveries handed to deliver_batch at once (in order): >1 for a sink that pipelines them (MQTT).
    batch_size: int = 1

    def deliver_batch(self, deliveries: list[Delivery]) -> None:
        """Deliver several, in order, all or (raising) none counted: only called with ``batch_size`` > 1."""
        for delivery in deliveries:
            self.deliver(delivery)

    @abstractmethod
    def deliver(self, delivery: Delivery) -> None:
        """Deliver one alert; return once the receiver has it. Raise :class:`SinkError` to be retried later,
        :class:`SinkRejected` when it never will take it."""

    @property
    def problem(self) -> str | None:
        """What is wrong right now, in one sentence (e.g. a broker that refuses the credentials); None when fine."""
        return None

    def close(self) -> None:  # noqa: B027
        """Let go of connections (after the last delivery)."""


class AlertSink(ABC):
    """A kind of sink, by URL scheme. Set ``name``, ``schemes`` and a one-line ``description``.

    A sink that a server's client may name (``POST /v1/watch``'s ``sinks``) sets ``keeps_reach``: its
    :meth:`connect` then takes ``reach`` (:class:`trio_core.outbound.Reach`) and opens every connection it makes for
    that URL within it. A sink without it serves the CLI and the watches file only."""

    name: str
    schemes: tuple[str, ...] = ()
    description: str = ""
    keeps_reach: bool = False

    def handles(self, url: str) -> bool:
        return scheme_of(url) in self.schemes

    @abstractmethod
    def connect(self, url: str, reach: Reach | None = None) -> SinkConnection:
        """A connection for ``url``, checked now: a URL it cannot use is a :class:`ConfigError` (one sentence,
        secrets masked). Connecting to the receiver itself may happen later, in the background. With ``reach``
        (a request named the URL), a receiver it may not reach is an :class:`~trio_core.outbound.AddressRefused`
        now where the sink can tell, and every connection goes to an address ``reach`` checked."""

    def check(self, url: str, reach: Reach) -> None:
        """Whether a request may name ``url`` (its receiver allowed by ``reach``), where the process already delivers
        there for its admin: by default a connection opened and closed again; a sink whose connecting is not free
        (MQTT's announces trio online) checks without it."""
        self.connect(url, reach=reach).close()

    def label(self, url: str) -> str:
        """``url`` as listings, events and logs show it: without its secrets."""
        return masked(url)

    def describe(self) -> dict[str, Any]:
        return {"schemes": list(self.schemes), "description": self.description}


def scheme_of(url: str) -> str:
    head, separator, _ = url.partition("://")
    return head.lower() if separator else ""


def sink_key(url: str) -> str:
    """What the outbox files a sink's deliveries under: the receiver, without credentials (so a corrected password
    delivers what a wrong one could not), and hashed (the file never holds even the masked URL's details)."""
    return hashlib.sha256(masked(url).encode()).hexdigest()[:32]


def check_options(options: dict[str, str], known: tuple[str, ...], what: str) -> None:
    """Refuse an option the sink does not know (a typo would otherwise be ignored): ``what`` names the sink."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{what} has an unknown option '{unknown[0]}'; its options are {', '.join(known)}.")


def connect_sink(url: str, reach: Reach | None = None) -> SinkConnection:
    """The installed sink's connection for ``url``; with ``reach`` (a request named it), only through a sink that
    keeps to it."""
    sink = find_sink(url)
    if reach is None:
        return sink.connect(url)
    if not sink.keeps_reach:
        raise AddressRefused(f"The '{sink.name}' sink cannot keep to the addresses a request may reach, so a request "
                             f"may not name {scheme_of(url)}:// sinks; give it in the server's watches file.")  # fmt: skip
    return sink.connect(url, reach=reach)


def check_sink(url: str, reach: Reach) -> None:
    """Whether a request may name ``url``, whose sink the process already has open for its admin (see
    :func:`connect_sink`)."""
    sink = find_sink(url)
    if not sink.keeps_reach:
        connect_sink(url, reach)  # says why not
    sink.check(url, reach)


def sink_label(url: str) -> str:
    """``url`` as trio shows a sink: the installed sink says which parts are secret (Apprise's services know their
    own); a URL no sink takes is masked as any URL is."""
    from ..plugins import registry

    for sink in registry().objects("alert sink"):
        if sink.handles(url):
            return sink.label(url)
    return masked(url)


def find_sink(url: str, sinks: list[AlertSink] | None = None) -> AlertSink:
    """The installed sink for ``url``'s scheme, or a ConfigError naming the schemes installed."""
    if sinks is None:
        from ..plugins import registry

        sinks = registry().objects("alert sink")
    for sink in sinks:
        if sink.handles(url):
            return sink
    schemes = ", ".join(sorted({f"{scheme}://" for sink in sinks for scheme in sink.schemes})) or "none"
    shown = scheme_of(url)
    what = f"'{shown}://'" if shown else f"'{masked(url)}' (no scheme)"
    raise ConfigError(f"No alert sink handles {what}; the sinks installed take {schemes}.")
