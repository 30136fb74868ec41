"""WS-Discovery probes for ONVIF cameras (NetworkVideoTransmitter), with the WSDiscovery library.

Two ways to probe, one answer type:

- :func:`probe_network`, the multicast probe every ONVIF client sends: WSDiscovery's
  ``ThreadedWSDiscovery`` does it whole (a socket per interface, the SOAP-over-UDP repeats,
  the multicast group joined to hear announcements).
- :func:`probe_host`, a unicast probe to one ``host:port``. ``ThreadedWSDiscovery`` can send
  one (``searchServices(address=, port=)``) but reads answers only on its multicast sockets,
  never on the socket the probe left from, which is where a camera answers; and starting it
  binds UDP 3702 and joins the multicast group on every interface. So the Probe is built and
  the ProbeMatches parsed by the library's own message classes, on a socket of our own.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from wsdiscovery.actions import NS_ACTION_PROBE_MATCH, constructProbe
from wsdiscovery.discovery import ThreadedWSDiscovery
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.qname import QName
from wsdiscovery.udp import UNICAST_UDP_MAX_DELAY

from trio_core.errors import TrioError

# The device type every ONVIF camera (and NVR) announces.
NETWORK_VIDEO_TRANSMITTER = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
_BUFFER = 0xFFFF


@dataclass(frozen=True)
class Match:
    """One device's answer to a probe: its endpoint reference, service addresses and scopes."""

    epr: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]


def probe_host(host: str, port: int, timeout: float) -> list[Match]:
    """Probe one host, unicast; its answer, or ``[]`` if none comes within ``timeout`` seconds."""
    probe = constructProbe([NETWORK_VIDEO_TRANSMITTER], None)
    data = createSOAPMessage(probe).encode("utf-8")
    try:
        family, kind, proto, _, target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as error:
        raise TrioError(f"{host} is not a host name that resolves ({error.strerror}): check the address.") from None
    deadline = time.monotonic() + timeout
    # SOAP-over-UDP repeats a unicast message once; here only if the first got no answer soon.
    resend_at = time.monotonic() + UNICAST_UDP_MAX_DELAY / 1000
    with socket.socket(family, kind, proto) as sock:
        sock.sendto(data, target)
        while (now := time.monotonic()) < deadline:
            if resend_at is not None and now >= resend_at:
                sock.sendto(data, target)
                resend_at = None
            sock.settimeout(max(0.001, min(deadline, resend_at or deadline) - now))
            try:
                reply, sender = sock.recvfrom(_BUFFER)
            except TimeoutError:
                continue
            except OSError:  # an ICMP "port unreachable" surfaces here on some systems
                return []
            matches = _matches(reply, sender[0], probe.getMessageId())
            if matches is not None:
                return matches  # one host answers once
    return []


def probe_network(timeout: float) -> list[Match]:
    """Probe the local network (multicast 239.255.255.250:3702 and FF02::C); every answer within ``timeout``."""
    discovery = ThreadedWSDiscovery()
    try:
        discovery.start()
    except OSError as error:
        raise TrioError(
            f"WS-Discovery could not open UDP port 3702 ({error.strerror}): give the camera's address instead."
        ) from None
    try:
        services = discovery.searchServices(types=[NETWORK_VIDEO_TRANSMITTER], timeout=timeout)
        return [
            Match(s.getEPR(), tuple(s.getXAddrs()), tuple(scope.getValue() for scope in s.getScopes()))
            for s in services
        ]
    finally:
        discovery.stop()


def _matches(reply: bytes, sender: str, probe_id: str) -> list[Match] | None:
    """The matches in ``reply`` if it is the ProbeMatches answering ``probe_id``, else None."""
    try:
        envelope = parseSOAPMessage(reply, sender)
    except Exception:  # noqa: BLE001 - as the library's own receiver does: a malformed datagram is skipped
        return None
    if envelope is None or envelope.getAction() != NS_ACTION_PROBE_MATCH or envelope.getRelatesTo() != probe_id:
        return None
    return [
        Match(m.getEPR(), tuple(m.getXAddrs()), tuple(scope.getValue() for scope in m.getScopes()))
        for m in envelope.getProbeResolveMatches()
    ]
