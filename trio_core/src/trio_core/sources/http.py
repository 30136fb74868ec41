"""Media at http(s) URLs: downloaded with a size cap and a timeout, then read like a local file."""

from __future__ import annotations

import mimetypes
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ..errors import MediaError
from ..frames import Frame, SamplingPlan
from .base import FrameSource
from .files import open_media_file

if TYPE_CHECKING:
    from ..config import EngineConfig


class HttpSource(FrameSource):
    """Videos and images at ``http://`` and ``https://`` URLs.

    The file is downloaded (streamed, at most ``config.download_max_mb``, giving up when the
    server sends nothing for ``config.download_timeout_s``) to a temporary file that keeps
    the URL's extension, decoded like a local file, and deleted.
    """

    name = "http"
    schemes = ("http", "https")

    def open(self, target, plan: SamplingPlan, config: EngineConfig) -> list[Frame]:
        url = str(target)
        path = download(url, max_mb=config.download_max_mb, timeout_s=config.download_timeout_s)
        try:
            return list(open_media_file(path, plan, label=url))
        finally:
            path.unlink(missing_ok=True)


def download(url: str, *, max_mb: float, timeout_s: float) -> Path:
    """Stream ``url`` into a temporary file and return its path; the caller deletes it.

    The file keeps the URL's extension (or one guessed from the Content-Type), so images and
    videos are told apart as for local files. Every failure (an HTTP error status, a timeout,
    a refused connection, a file over ``max_mb``) is one :class:`MediaError` sentence.
    """
    import httpx

    limit = int(max_mb * 1024 * 1024)
    path = None
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise MediaError(
                    f"'{url}' answered HTTP {response.status_code} {response.reason_phrase}: check the URL."
                )
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise MediaError(_too_large_message(url, max_mb, int(length)))
            fd, name = tempfile.mkstemp(prefix="trio-", suffix=_suffix_for(url, response.headers.get("content-type")))
            path = Path(name)
            with os.fdopen(fd, "wb") as file:
                read = 0
                for chunk in response.iter_bytes():
                    read += len(chunk)
                    if read > limit:  # the server sent more than it announced, or announced nothing
                        raise MediaError(_too_large_message(url, max_mb))
                    file.write(chunk)
        return path
    except BaseException as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        if isinstance(exc, httpx.TimeoutException):
            raise MediaError(
                f"'{url}' sent nothing for {timeout_s:g} s: check the URL, or raise download_timeout_s "
                "(TRIO_DOWNLOAD_TIMEOUT_S)."
            ) from None
        if isinstance(exc, httpx.ConnectError):
            raise MediaError(
                f"Could not connect to '{url}' ({exc}): check the URL and that the server is up."
            ) from None
        if isinstance(exc, (httpx.HTTPError, httpx.InvalidURL, OSError)):
            raise MediaError(f"Could not download '{url}' ({exc or type(exc).__name__}): check the URL.") from None
        raise


def _too_large_message(url: str, max_mb: float, size: int | None = None) -> str:
    size_text = f" ({size / 1024 / 1024:.3g} MB)" if size is not None else ""
    return (
        f"'{url}' is larger{size_text} than the download limit of {max_mb:g} MB: raise download_max_mb "
        "(TRIO_DOWNLOAD_MAX_MB) or download it yourself."
    )


def _suffix_for(url: str, content_type: str | None) -> str:
    """The URL path's extension, else one guessed from the Content-Type, else ``.bin`` (FFmpeg then probes it)."""
    suffix = Path(unquote(urlsplit(url).path)).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        return suffix
    if content_type:
        guessed = mimetypes.guess_extension(content_type.split(";")[0].strip().lower())
        if guessed:
            return guessed
    return ".bin"
