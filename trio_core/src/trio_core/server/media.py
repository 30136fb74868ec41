"""Media a request names: data URLs, http(s) URLs (guarded against SSRF), and paths under media roots.

- ``data:`` URLs are decoded in memory (images) or to a temporary file (videos).
- ``http(s)`` URLs are fetched with a size cap and a timeout. Their host must resolve to public
  addresses only, unless private ones are allowed, and the connection goes to the address that
  was checked (:mod:`trio_core.outbound`: no second DNS answer is ever used). Redirects are
  followed by hand, each hop checked the same way.
- Anything else is a server-local path, read only under a configured media root, after
  resolving ``..`` and symlinks; outside, or with no roots configured, it is refused (403).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from ..credentials import masked
from ..errors import ConfigError, TrioError
from ..frames import MAX_PIXELS, TooManyPixels, read_image
from ..outbound import AddressRefused, Reach, is_public
from .errors import APIError
from .settings import ServerSettings

MAX_REDIRECTS = 3


class MediaResolver:
    """Turns the media references of one request into what the engine reads; cleans up after it."""

    def __init__(self, settings: ServerSettings, max_pixels: int = MAX_PIXELS):
        self.settings = settings
        self.max_pixels = max_pixels  # the engine's: an image sent inline is decoded here, under the same cap
        self.names: dict[str, str] = {}  # each server path handed out -> the client's own name for it
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> MediaResolver:
        return self

    def __exit__(self, kind=None, error=None, traceback=None) -> None:
        self._stack.close()
        # An error from reading what was handed out names the server's file (a temporary one, a path under a
        # media root): the client reads the name it gave instead.
        if isinstance(error, TrioError | APIError) and error.args and isinstance(error.args[0], str):
            words = self.in_client_words(error.args[0])
            error.args = (words, *error.args[1:])
            if isinstance(error, APIError):
                error.message = self.in_client_words(error.message)

    def in_client_words(self, text: str) -> str:
        """``text`` with every server path this resolver handed out replaced by the client's name for it."""
        for path, name in sorted(self.names.items(), key=lambda item: -len(item[0])):  # longest first
            text = text.replace(path, name)
        return text

    def image(self, reference: str, *, what: str = "image"):
        """A PIL image (data URL) or a file path (URL, local path) for one image."""
        if reference.startswith("data:"):
            payload = decode_data_url(reference, what)
            return open_image(payload, what, self.max_pixels)
        return self.file(reference, what=what)

    def video(self, reference: str, *, what: str = "video") -> Path:
        """A file path for one video."""
        if reference.startswith("data:"):
            return self._temporary(decode_data_url(reference, what), suffix=".mp4", name=f"the {what}")
        return self.file(reference, what=what)

    def file(self, reference: str, *, what: str) -> Path:
        scheme = urlsplit(reference).scheme.lower()
        if scheme in ("http", "https"):
            suffix = Path(urlsplit(reference).path).suffix
            return self._temporary(self.fetch(reference, what), suffix=suffix, name=masked(reference))
        if scheme == "file":
            return self.local_path(urlsplit(reference).path, what)
        if scheme and len(scheme) > 1:  # "c:" is a Windows drive, not a scheme
            raise APIError(400, f"The {what} URL scheme {scheme!r} is not supported; use http(s), data: or a path.")
        return self.local_path(reference, what)

    def local_path(self, reference: str, what: str) -> Path:
        roots = [root.resolve() for root in self.settings.media_roots]
        if not roots:
            raise APIError(403, f"The {what} names a server path, and this server reads none (no --media-root).")
        try:
            path = Path(reference)
            candidates = [path] if path.is_absolute() else [root / path for root in roots]
            for candidate in candidates:
                real = candidate.resolve()  # follows symlinks and ..: the file that would actually be read
                if any(real.is_relative_to(root) for root in roots):
                    if not real.is_file():
                        raise APIError(404, f"No {what} at {reference!r} under the media roots.")
                    self.names[str(real)] = reference
                    return real
        except (ValueError, OSError):  # a NUL byte, a name too long, a loop of links
            raise APIError(400, f"The {what} path {reference!r} is not a usable path.") from None
        raise APIError(403, f"The {what} path {reference!r} is outside the server's media roots.")

    def fetch(self, url: str, what: str) -> bytes:
        limit = int(self.settings.media_max_mb * 2**20)
        timeout = self.settings.media_timeout_s
        # Each hop's host resolved once, checked, and connected to at that address (trio_core.outbound).
        with self.reach.http_client(what=f"{what} URL", timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self.check_host(url, what, resolve=False)
                try:
                    with client.stream("GET", url) as response:
                        self.check_peer(response, url, what)
                        if response.is_redirect and response.headers.get("location"):
                            url = urljoin(url, response.headers["location"])
                            continue
                        if response.status_code >= 400:
                            raise APIError(400, f"Fetching the {what} at {url} failed: HTTP {response.status_code}.")
                        declared = response.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > limit:
                            raise APIError(
                                413, f"The {what} at {url} is larger than {self.settings.media_max_mb:g} MB."
                            )
                        body = bytearray()
                        for chunk in response.iter_bytes():
                            body += chunk
                            if len(body) > limit:
                                raise APIError(
                                    413, f"The {what} at {url} is larger than {self.settings.media_max_mb:g} MB."
                                )
                        return bytes(body)
                except AddressRefused as error:
                    raise APIError(403, str(error)) from None
                except ConfigError as error:  # a host that does not resolve
                    raise APIError(400, str(error)) from None
                except httpx.TimeoutException:
                    raise APIError(400, f"Fetching the {what} at {url} timed out after {timeout:g} s.") from None
                except (httpx.HTTPError, httpx.InvalidURL) as error:
                    raise APIError(400, f"Fetching the {what} at {url} failed: {error}.") from None
        raise APIError(400, f"The {what} URL redirects more than {MAX_REDIRECTS} times.")

    @property
    def reach(self) -> Reach:
        """The rule for what this request's URLs may reach (trio_core.outbound)."""
        return Reach(allow_private=self.settings.allow_private_urls)

    def check_host(self, url: str, what: str, *, resolve: bool = True) -> None:
        """An http(s) URL whose host resolves to addresses the request may reach (403 otherwise); ``resolve=False``
        checks only its form (the connection checks the address)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise APIError(400, f"The {what} URL {url!r} is not an http(s) URL.")
        if not resolve:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            self.reach.resolve(parts.hostname, port, f"{what} URL")
        except AddressRefused as error:
            raise APIError(403, str(error)) from None
        except (ConfigError, ValueError):
            raise APIError(400, f"The {what} URL's host {parts.hostname!r} does not resolve.") from None

    def check_peer(self, response: httpx.Response, url: str, what: str) -> None:
        """The address actually connected to, checked again (the connection was pinned to a checked one)."""
        if self.settings.allow_private_urls:
            return
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer and not is_public(peer[0]):
            raise APIError(403, f"The {what} URL connected to a private address ({peer[0]}); refused.")

    def _temporary(self, payload: bytes, *, suffix: str, name: str) -> Path:
        # Closed (and so deleted) with the resolver, when the request is done with the media.
        handle = self._stack.enter_context(tempfile.NamedTemporaryFile(suffix=suffix or ".bin"))  # noqa: SIM115
        self.names[handle.name] = name
        handle.write(payload)
        handle.flush()
        return Path(handle.name)


def decode_data_url(url: str, what: str) -> bytes:
    header, comma, data = url.partition(",")
    if not comma or ";base64" not in header:
        raise APIError(400, f"The {what} data URL must be base64 (data:<type>;base64,<data>).")
    return decode_base64(data, what)


def decode_base64(data: str, what: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"The {what} is not valid base64.") from None


def open_image(payload: bytes, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An image sent inline, decoded only if its declared size is within ``max_pixels`` (else 413)."""
    try:
        image = read_image(io.BytesIO(payload), f"The {what}", max_pixels)
    except TooManyPixels as error:
        raise APIError(413, str(error)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise APIError(400, f"The {what} is not an image trio can read (JPEG, PNG, WebP, ...).") from None
    return image.convert("RGB")


@contextlib.contextmanager
def media(settings: ServerSettings) -> Iterator[MediaResolver]:
    with MediaResolver(settings) as resolver:
        yield resolver
