"""Camera streams: RTSP, RTSPS, RTMP and SRT, and live HTTP (MJPEG, HLS), read with PyAV.

:class:`StreamSource` opens ``rtsp://user:password@camera/path`` and friends with low-latency
options (TCP transport by default: UDP loses packets on Wi-Fi and through NAT, and every
camera speaks TCP), connect and read timeouts, and reconnects as
:mod:`~trio_core.sources.live` describes. HTTP URLs are live when they say so: a path that
names an MJPEG stream (``.mjpg``, ``.mjpeg``, ``/mjpg/``, ``video.cgi``) or an HLS playlist
(``.m3u8``); any other http(s) URL is a file to download (:class:`~trio_core.sources.HttpSource`).

A live URL a request to the server named arrives as a :class:`PinnedURL`: its MJPEG stream is
read by trio itself, over the pinned connection of :mod:`trio_core.outbound` (the address that
was checked, each redirect hop checked again), and handed to PyAV as a file; FFmpeg never
connects. A URL from the command line or the admin's watches file is FFmpeg's to read.

Every way a stream can fail to open is one sentence, with the password masked: nothing
listening, an unknown host, a server that is not a camera stream, a refused password (never
retried), no answer within the timeout.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from ..credentials import masked
from ..errors import ConfigError, MediaError
from ..frames import MAX_PIXELS, SamplingPlan
from .base import FrameSource, uri_scheme
from .live import LiveFrames, LiveSettings, Opened, Refused

if TYPE_CHECKING:
    import httpx

    from ..config import EngineConfig
    from ..outbound import Reach

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt")
_LIVE_HTTP_MARKERS = (".mjpg", ".mjpeg", "/mjpg/", "/mjpeg/", "video.cgi", ".m3u8")
MAX_REDIRECTS = 3  # as for media URLs


class StreamSettings(LiveSettings):
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport: tcp (reliable, works through NAT) or udp (less delay on a clean LAN)."
    )


def is_live_http(target: str) -> bool:
    """Whether an http(s) URL names a live stream (MJPEG, HLS) rather than a file."""
    path = urlsplit(target).path.lower()
    return any(marker in path for marker in _LIVE_HTTP_MARKERS)


def is_hls(target: str) -> bool:
    """Whether a live http(s) URL names an HLS playlist (the other live ones are MJPEG)."""
    return ".m3u8" in urlsplit(target).path.lower()


class PinnedURL(str):
    """A live MJPEG URL a request named: read only through ``reach`` (each connection, each redirect hop, to an
    address the rule allows and was checked), never by FFmpeg. A string, so it goes wherever a URL goes."""

    reach: Reach

    def __new__(cls, url: str, reach: Reach) -> PinnedURL:
        pinned = super().__new__(cls, url)
        pinned.reach = reach
        return pinned


class StreamSource(FrameSource):
    """Live camera streams (see the module's docstring); a watch analyses their newest frame."""

    name = "stream"
    schemes = (*STREAM_SCHEMES, "http", "https")
    live = True
    Settings = StreamSettings

    def can_open(self, target) -> bool:
        scheme = uri_scheme(target)
        if scheme in ("http", "https"):
            return is_live_http(str(target))
        return scheme in STREAM_SCHEMES

    def describe(self) -> dict:
        return {**super().describe(), "schemes": [*STREAM_SCHEMES, "http (MJPEG, HLS)", "https (MJPEG, HLS)"]}

    def check(self, target, config: EngineConfig) -> None:
        self.settings_from(config)  # a bad setting fails before a model loads, too
        parts = urlsplit(str(target))
        label = masked(str(target))
        if not parts.hostname:
            raise MediaError(f"'{label}' has no host: write it as {parts.scheme}://HOST[:PORT]/PATH.")
        try:
            _ = parts.port  # urlsplit checks the port when asked for it
        except ValueError:
            raise MediaError(f"'{label}' has a port that is not a number from 1 to 65535.") from None

    def open(self, target, plan: SamplingPlan, config: EngineConfig) -> LiveFrames:
        self.check(target, config)  # the URL's form, once; open_stream checks the host name at every connect
        url = str(target)
        settings = self.settings_from(config)
        label = masked(url)
        mjpeg = "f" in stream_options(url, settings)  # multipart JPEG: no timestamps of its own
        if isinstance(target, PinnedURL):
            reach = target.reach
            return LiveFrames(lambda: open_mjpeg(url, reach, settings, label, plan.max_pixels), plan, settings,
                              label=label, by_arrival=True)  # fmt: skip
        return LiveFrames(lambda: open_stream(url, settings, label, plan.max_pixels), plan, settings, label=label,
                          by_arrival=mjpeg)  # fmt: skip


def stream_options(url: str, settings: StreamSettings, max_pixels: int = MAX_PIXELS) -> dict[str, str]:
    """FFmpeg options for opening ``url`` with little delay and bounded waits."""
    scheme = uri_scheme(url)
    options = {
        # FFmpeg decodes a frame or two while it opens a stream: a camera's frame larger than the cap is refused there.
        "max_pixels": str(max_pixels),
        # Start decoding quickly: probe less, buffer nothing we do not need.
        "fflags": "nobuffer",
        "flags": "low_delay",
        # FFmpeg probes 20 frames of an RTSP stream before opening it by default (2.5 s at 8 fps).
        "probesize": "500000",
        "analyzeduration": "500000",
    }
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = settings.transport
        options["timeout"] = str(int(settings.read_timeout_s * 1_000_000 / 2))  # socket I/O, microseconds; as below
    elif scheme in ("http", "https"):
        options["rw_timeout"] = str(int(settings.read_timeout_s * 1_000_000 / 2))
        if not is_hls(url):
            options["f"] = "mpjpeg"
    return options


def open_stream(url: str, settings: StreamSettings, label: str, max_pixels: int = MAX_PIXELS) -> Opened:
    """Open a camera stream and its video track, or raise one :class:`MediaError` sentence saying why not."""

    _check_host(url, label)
    options = stream_options(url, settings, max_pixels)
    return Opened.input(
        url, format=options.pop("f", None), options=options, settings=settings,
        failed=lambda error: open_error(label, error, settings),
        no_video=f"'{label}' has no video track: check the URL's path (some cameras serve audio on one).",
    )  # fmt: skip


def open_mjpeg(url: str, reach: Reach, settings: StreamSettings, label: str, max_pixels: int = MAX_PIXELS) -> Opened:
    """Open an MJPEG stream over ``reach``'s pinned connection and hand its body to PyAV, or raise one
    :class:`MediaError` sentence saying why not. A hop to an address the rule refuses is its
    :class:`~trio_core.outbound.AddressRefused`, raised before connecting there, and never retried."""
    import httpx

    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.open_timeout_s)
    client = reach.http_client(what="source URL", timeout=timeout, follow_redirects=False)
    try:
        response = _answer(client, url, label, settings)
    except BaseException:
        client.close()
        raise
    options = stream_options(url, settings, max_pixels)
    for protocol_option in ("f", "rw_timeout"):  # trio reads the connection, not FFmpeg
        options.pop(protocol_option, None)
    return Opened.input(
        _ResponseBody(client, response, label, settings), format="mpjpeg", options=options, settings=settings,
        failed=lambda error: open_error(label, error, settings),
        no_video=f"'{label}' has no video track: check the URL's path.",
    )  # fmt: skip


def _answer(client: httpx.Client, url: str, label: str, settings: StreamSettings) -> httpx.Response:
    """The stream's response (its body not read yet), redirects followed by hand so that the pinned transport checks
    each hop; a camera's refusal or an error status is one sentence."""
    import httpx

    from ..outbound import AddressRefused

    where = _where(label)
    auth = None
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = client.send(client.build_request("GET", url), stream=True, auth=auth)
        except AddressRefused:
            raise
        except ConfigError:  # the host does not resolve (now: names come back, and the live reader retries)
            raise MediaError(
                f"The host name '{urlsplit(url).hostname}' is not known: check its spelling, or use the camera's IP "
                "address."
            ) from None
        except httpx.ConnectTimeout:
            raise MediaError(
                f"{where} did not answer within {settings.open_timeout_s:g} s: check that the camera is on and "
                "reachable (or raise --source stream.open_timeout_s)."
            ) from None
        except httpx.ConnectError as error:
            if "refused" not in str(error).lower():  # a TLS certificate, an unreachable network
                raise MediaError(f"'{label}' could not be opened: {masked(str(error))}.") from None
            raise MediaError(
                f"Nothing is listening at {where} (connection refused): check the address and the port."
            ) from None
        except httpx.TimeoutException:
            raise MediaError(f"'{label}' sent nothing for {settings.read_timeout_s:g} s.") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise MediaError(f"'{label}' could not be opened: {masked(str(error))}.") from None
        status = response.status_code
        challenge = response.headers.get("www-authenticate", "").lower()
        if status == 401 and auth is None and challenge.startswith("digest") and response.url.username:
            response.close()  # many cameras ask for digest: answer the challenge once, as FFmpeg does
            auth = httpx.DigestAuth(response.url.username, response.url.password)
            continue
        if response.is_redirect and response.headers.get("location"):
            response.close()
            url, auth = urljoin(url, response.headers["location"]), None
            continue
        if status in (401, 403):
            response.close()
            reason = "401 Unauthorized" if status == 401 else "403 Forbidden"
            raise Refused(
                f"The camera at {where} refused the user name or password ({reason}): check them (user:password@ in "
                "the URL); trio does not retry a refused password."
            )
        if status == 404:
            response.close()
            raise MediaError(f"The camera at {where} has no stream at '{label}' (404 Not Found): check the URL's path.")
        if status >= 400:
            response.close()
            raise MediaError(f"The camera at {where} answered HTTP {status}: check the URL.")
        return response
    raise MediaError(f"'{label}' redirects more than {MAX_REDIRECTS} times: give the stream's own URL.")


class _ResponseBody:
    """An HTTP response's body as the file PyAV reads (not seekable); a stall or a broken connection is a
    :class:`MediaError` sentence, which the live reader takes as a lost stream and reconnects."""

    def __init__(self, client: httpx.Client, response: httpx.Response, label: str, settings: StreamSettings):
        self.client, self.response, self.label, self.settings = client, response, label, settings
        self._chunks = response.iter_raw()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        import httpx

        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return b""
            except httpx.TimeoutException:
                raise MediaError(f"'{self.label}' sent nothing for {self.settings.read_timeout_s:g} s") from None
            except httpx.HTTPError as error:
                raise MediaError(f"'{self.label}' broke off ({masked(str(error))})") from None
        size = len(self._pending) if size is None or size < 0 else size
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        self.response.close()
        self.client.close()


def open_error(label: str, error: BaseException, settings: StreamSettings) -> MediaError:
    """The one sentence for a stream PyAV could not open (a :class:`Refused` one for a refused password)."""
    import av

    where = _where(label)
    if isinstance(error, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
        return Refused(
            f"The camera at {where} refused the user name or password ({_status(error)}): check them (user:password@ "
            "in the URL); trio does not retry a refused password."
        )
    if isinstance(error, av.error.HTTPNotFoundError):
        return MediaError(f"The camera at {where} has no stream at '{label}' (404 Not Found): check the URL's path.")
    if isinstance(error, av.error.ConnectionRefusedError):
        return MediaError(f"Nothing is listening at {where} (connection refused): check the address and the port.")
    if isinstance(error, (av.error.ExitError, av.error.TimeoutError)):
        return MediaError(
            f"{where} did not answer within {settings.open_timeout_s:g} s: check that the camera is on and "
            "reachable (or raise --source stream.open_timeout_s)."
        )
    if isinstance(error, (av.error.InvalidDataError, av.error.EOFError)):
        kind = uri_scheme(label).upper()
        article = "an" if kind[0] in "AEFHILMNORSX" else "a"  # said as letters: an RTSP, an HTTP, an SRT
        return MediaError(
            f"{where} answered, but not as {article} {kind} stream trio can read: check the port "
            "and the URL (is it the camera's stream port?)."
        )
    reason = getattr(error, "strerror", None) or str(error)
    return MediaError(f"'{label}' could not be opened: {masked(reason)}.")


def _check_host(url: str, label: str) -> None:
    """An unknown host name is one sentence now, not a generic I/O error from FFmpeg later."""
    parts = urlsplit(url)
    try:
        socket.getaddrinfo(parts.hostname, None)
    except socket.gaierror:
        raise MediaError(
            f"The host name '{parts.hostname}' is not known: check its spelling, or use the camera's IP address."
        ) from None
    except UnicodeError:
        raise MediaError(f"'{label}' has a host name that is not valid.") from None


def _where(label: str) -> str:
    """``host:port`` of a (masked) URL, for a sentence."""
    parts = urlsplit(label)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or label
    return f"{host}:{port}" if port else host


def _status(error: BaseException) -> str:
    import av

    if isinstance(error, av.error.HTTPForbiddenError):
        return "403 Forbidden"
    return "401 Unauthorized"
