"""Camera addresses and URLs: ``host[:port]`` as people write it, credentials put into an RTSP URL."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from trio_core.errors import ConfigError


def netloc(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def address(host: str, port: int, default_port: int) -> str:
    """``host`` alone when ``port`` is the protocol's usual one, else ``host:port``: how messages name a camera."""
    return host if port == default_port else netloc(host, port)


def split_address(text: str, default_port: int) -> tuple[str, int]:
    """``"192.168.1.20:8000"`` -> ``("192.168.1.20", 8000)``; ``"cam.local"`` -> ``("cam.local", default_port)``."""
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"The camera address {text!r} has a port that is not a number: write it as HOST or HOST:PORT."
        ) from None
    if not parts.hostname:
        raise ConfigError(f"The camera address {text!r} has no host: write it as HOST or HOST:PORT.")
    return parts.hostname, port if port is not None else default_port


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """``url`` with ``user:password@`` in it, both percent-encoded, so that FFmpeg (PyAV) authenticates.

    Any user info already in ``url`` is replaced; without ``user`` the URL is returned as it is.
    Show the result only through :func:`trio_core.credentials.masked`.
    """
    if user is None:
        return url
    parts = urlsplit(url)
    userinfo = quote(user, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))
