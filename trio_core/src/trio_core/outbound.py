"""Which addresses a request may reach: one rule for every connection a request can make trio open.

A request to the server may name URLs that the server then connects to: a media URL it
fetches, a watch's sinks (a webhook, an MQTT broker, a notification service). Left alone,
that lets a client reach what only the server can: its loopback, the private network, a cloud's
metadata service at 169.254.169.254. A :class:`Reach` is that rule for one request:

- a host is resolved once, and refused if any of its addresses is not public: loopback,
  private, link-local, shared (CGNAT ``100.64.0.0/10``), multicast, reserved, unspecified, or an
  IPv6 address that carries one of those (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo);
- the connection then goes to the address that was checked, never to a second DNS answer:
  :meth:`Reach.http_client` (httpx; the Host header, TLS's SNI and its certificate check keep the
  name), :meth:`Reach.address` with :func:`tls_context` (sockets trio opens itself, MQTT),
  and :meth:`Reach.connections`, which checks every socket a library opens on this thread at
  the moment it connects (Apprise's services, which connect in their own code).

``Reach(allow_private=True)`` (the server's ``--allow-private-urls``) lets anything through.
What the server's own admin configures (the watches file) and the CLI take no Reach at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import httpx

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT: not private, not public either
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated but still routed by some stacks


class AddressRefused(ConfigError):
    """A request named a host that resolves to an address it may not reach (the server answers 403)."""


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP, IPv6 zone allowed) is an ordinary public unicast address, IPv4 carried inside
    IPv6 judged by the IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(is_public(str(inner)) for inner in embedded)
        if ip.is_site_local:
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address leads to, where it is one of the forms that carry one."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if any(ip in network for network in _NAT64):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the Teredo server and the client behind it
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1, which are themselves refused
        return [ipaddress.IPv4Address(int(ip))]
    return None


class Reach:
    """What one request's outbound connections may reach: public addresses only, or (``allow_private``) anything."""

    def __init__(self, allow_private: bool = False):
        self.allow_private = allow_private

    def __repr__(self) -> str:
        return f"Reach(allow_private={self.allow_private})"

    def resolve(self, host: str, port: int | None, what: str) -> list[str]:
        """Every address ``host`` resolves to, once, all of them checked: an :class:`AddressRefused` names the first
        that is not public; a host that does not resolve is a ConfigError."""
        host = host.strip("[]")
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError):
            raise ConfigError(f"The {what}'s host {host!r} does not resolve; check its name.") from None
        addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
        if not self.allow_private:
            for address in addresses:
                self.check(address, what)
        return addresses

    def address(self, host: str, port: int | None, what: str) -> str:
        """The address to connect to for ``host``: its first, checked (with private addresses allowed it is still
        resolved once and pinned, only not refused)."""
        return self.resolve(host, port, what)[0]

    def check(self, address: str, what: str) -> None:
        if not self.allow_private and not is_public(address):
            raise AddressRefused(
                f"The {what} points at a private, loopback, link-local or otherwise non-public address ({address}); "
                "a request may reach public addresses only (the server's --allow-private-urls lifts this)."
            )

    def http_client(self, what: str = "URL", verify: Any = True, **options: Any) -> httpx.Client:
        """An httpx client whose every request connects to an address its host resolved to, checked (the next one
        where it refuses the connection); a refused host raises :class:`AddressRefused` before any connection, one
        that does not resolve a ConfigError. No proxy from the environment: it would connect in trio's place.
        Redirects are the caller's to follow, each hop checked the same way."""
        import httpx

        options.pop("trust_env", None)
        return httpx.Client(transport=_pinned_transport()(self, what, verify), trust_env=False, **options)

    @contextlib.contextmanager
    def connections(self, what: str) -> Iterator[_Watched]:
        """Within this block, on this thread and the threads it hands work to with its context (as Apprise does),
        every socket that connects or sends is checked at that moment, on the address it actually uses; a refused one
        fails as the library's own connection error, and the block's ``refused`` says which. Local sockets (Unix
        paths) and starting programs are refused too. For a library that opens its own sockets where trio cannot
        pin them."""
        watched = _Watched(self, what)
        if self.allow_private:
            yield watched
            return
        _install_audit()
        token = _WATCHED.set(watched)
        try:
            yield watched
        finally:
            _WATCHED.reset(token)


def tls_context(name: str, cafile: str | None = None, check_name: bool = True) -> ssl.SSLContext:
    """A client TLS context that sends ``name`` (SNI) and checks the certificate against it, whatever address the
    socket was opened to (a connection pinned by :meth:`Reach.address`); ``cafile`` trusts a private CA instead of
    the system's, ``check_name=False`` still checks the chain but not the name."""
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.name = name.strip("[]")
    if cafile:
        context.load_verify_locations(cafile=cafile)
    else:
        context.load_default_certs()
    context.check_hostname = check_name
    return context


class _NamedContext(ssl.SSLContext):
    """Checks the certificate of ``name`` although the socket went to an address, not the name."""

    name: str

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        return super().wrap_socket(sock, *args, server_hostname=self.name, **kwargs)


@functools.cache
def _pinned_transport() -> type:
    """The transport class, made when first needed (importing this module imports no httpx)."""
    import httpx

    class PinnedTransport(httpx.BaseTransport):
        """Resolves each request's host once, checks it and connects to that address; the Host header and TLS (SNI,
        the certificate's name) keep the name. A refused host is an :class:`AddressRefused` before any connection."""

        def __init__(self, reach: Reach, what: str, verify: Any):
            self.reach, self.what = reach, what
            self.inner = httpx.HTTPTransport(verify=verify, trust_env=False)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            name = request.url.host
            port = request.url.port or (443 if request.url.scheme == "https" else 80)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": name}
            original = request.url
            addresses = self.reach.resolve(name, port, self.what)
            for index, address in enumerate(addresses):
                request.url = original.copy_with(host=address)
                try:
                    response = self.inner.handle_request(request)
                except httpx.ConnectError:
                    if index == len(addresses) - 1:
                        raise
                    continue
                request.url = original  # the response names the URL asked for, not the address
                return response
            raise AssertionError("getaddrinfo answers at least one address or fails")

        def close(self) -> None:
            self.inner.close()

    return PinnedTransport


# Connections checked as they happen (Reach.connections) ------------------------------------------------------------


class _Watched:
    """One :meth:`Reach.connections` block: what it refused, for the caller's own sentence."""

    def __init__(self, reach: Reach, what: str):
        self.reach, self.what = reach, what
        self.refused: AddressRefused | None = None


class _ConnectionRefused(ConnectionRefusedError):
    """What a library sees when trio refuses its connection: an ordinary connection error it already handles."""


_WATCHED: contextvars.ContextVar[_Watched | None] = contextvars.ContextVar("trio_outbound_watched", default=None)
_SOCKET_EVENTS = ("socket.connect", "socket.sendto", "socket.sendmsg")
_PROGRAM_EVENTS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.startfile")
_installed = threading.Lock()
_audit_on = False


def _install_audit() -> None:
    """Once per process: a PEP 578 audit hook, which does nothing outside a :meth:`Reach.connections` block."""
    global _audit_on
    with _installed:
        if not _audit_on:
            sys.addaudithook(_audit)
            _audit_on = True


def _audit(event: str, args: tuple) -> None:
    if not (event in _SOCKET_EVENTS or event in _PROGRAM_EVENTS):
        return
    watched = _WATCHED.get()
    if watched is None:
        return
    if event in _PROGRAM_EVENTS:
        watched.refused = AddressRefused(f"The {watched.what} would start a program on the server; refused.")
        raise PermissionError(str(watched.refused))
    address = args[1] if len(args) > 1 else None
    if event == "socket.sendto" and address is None:
        return  # a connected socket's send: its connect was checked
    host = address[0] if isinstance(address, tuple) and address else None
    try:
        if not isinstance(host, str):
            raise AddressRefused(f"The {watched.what} would reach a local socket of the server; refused.")
        watched.reach.check(host, watched.what)
    except AddressRefused as error:
        watched.refused = error
        raise _ConnectionRefused(str(error)) from None
