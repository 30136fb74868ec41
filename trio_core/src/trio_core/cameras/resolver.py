"""From a camera's address to an RTSP URL that opens: ONVIF first, then the brands' usual URLs."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from trio_core.cameras.brands import RTSP_PORT, candidate_urls
from trio_core.cameras.camera import ONVIF_PORT
from trio_core.cameras.errors import CredentialsRefusedError, OnvifUnavailableError
from trio_core.cameras.onvif import stream_uri
from trio_core.cameras.urls import address
from trio_core.credentials import masked
from trio_core.errors import TrioError


def resolve(
    host: str,
    *,
    user: str | None = None,
    password: str | None = None,
    onvif_port: int = ONVIF_PORT,
    rtsp_port: int = RTSP_PORT,
    probe: Callable[[str], bool] | None = None,
    timeout: float = 5.0,
    profile: str | None = None,
) -> tuple[str, str]:
    """``(url, how)``: an RTSP URL for the camera at ``host`` (credentials in it), and ``"onvif"`` or the brand.

    ONVIF's GetStreamUri first (``timeout`` seconds; skipped without the onvif extra), then
    the URLs of :data:`trio_core.cameras.brands.BRANDS` in order, each checked with
    ``probe(url)`` (default :func:`open_with_pyav`), the first that opens wins. A camera that
    refuses the credentials stops the search at once: other paths would be refused too.
    ``profile`` (an ONVIF profile's name or token, e.g. ``subStream``) picks the stream over ONVIF.
    """
    probe = probe or open_with_pyav
    try:
        url = stream_uri(host, port=onvif_port, user=user, password=password, profile=profile, timeout=timeout)
        return url, "onvif"
    except OnvifUnavailableError as error:
        onvif_failure = error.reason
    tried = []
    for brand, url in candidate_urls(host, user, password, port=rtsp_port):
        if probe(url):
            return url, brand
        tried.append(f"{brand} {masked(url)}")
    raise TrioError(
        f"Found no stream at {host}: ONVIF gave none ({onvif_failure}) and no brand's usual RTSP URL opened "
        f"({', '.join(tried)}); give the camera's RTSP URL with --rtsp URL."
    )


def open_with_pyav(url: str) -> bool:
    """Whether PyAV opens ``url`` (over RTSP/TCP, 3 s to connect and to read); nothing is decoded.

    A 401 means the path exists and the credentials are wrong (or missing): that raises
    :class:`~trio_core.cameras.errors.CredentialsRefusedError` instead of answering False.
    """
    import av  # trio-core's own dependency; imported here, where it is needed

    try:
        container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(3, 3))
    except av.error.HTTPUnauthorizedError:
        parts = urlsplit(url)
        where = address(parts.hostname or "", parts.port or RTSP_PORT, RTSP_PORT)
        # from None: PyAV's message quotes the URL, password and all.
        raise CredentialsRefusedError(where, "RTSP", had_user=bool(parts.username)) from None
    except (av.error.FFmpegError, OSError):
        return False
    container.close()
    return True
