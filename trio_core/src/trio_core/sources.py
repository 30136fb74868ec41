"""Frame sources: where sampled frames come from (files, URLs, arrays; cameras and streams via plugins).

A source says which targets it can open (by URI scheme, or by looking at the object) and
turns one into timestamped RGB :class:`~trio_core.frames.Frame` objects, sampled and scaled
as a :class:`~trio_core.frames.SamplingPlan` says. :func:`read_frames` picks the source.

Videos are sampled by seeking, not by decoding everything: see :class:`VideoFrames`.
Every way a file can be unreadable becomes one :class:`~trio_core.errors.MediaError`
sentence that names the file and says what to do.
"""

from __future__ import annotations

import mimetypes
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import numpy as np
from tqdm import tqdm

from .errors import MediaError, PluginNotFoundError
from .frames import Frame, SamplingPlan, fit_within
from .hookspecs import hookimpl
from .plugins import missing_message, registry
from .sampling import sample_indices, sample_timestamps

if TYPE_CHECKING:
    from .config import EngineConfig

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

# A target after decoding this far (seconds) is reached by decoding on rather than by
# seeking, when the container has no keyframe index to decide exactly.
SEEK_GAP_S = 1.0

# Damaged packets in a row that are skipped before a video counts as unreadable.
MAX_DECODE_ERRORS = 8

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def uri_scheme(target: Any) -> str | None:
    """The URI scheme of a target: ``"rtsp"`` for ``rtsp://cam/1``, ``"file"`` for a plain or Windows path.

    ``None`` for targets that are not a string or path (arrays, images, ...).
    """
    if isinstance(target, os.PathLike):
        return "file"
    if not isinstance(target, str):
        return None
    if _WINDOWS_PATH.match(target):
        return "file"
    match = _URI.match(target)
    if match:
        return match.group(1).lower()
    return "file"  # a plain path, or a "file:" URL without "//"


class FrameSource(ABC):
    """Something that turns a target (a path, a URL, an array, a camera) into sampled frames.

    Subclasses set ``name`` (how ``trio plugins`` lists it) and usually ``schemes`` (the URI
    schemes they open); they implement :meth:`open`. Register one from a plugin with::

        @hookimpl
        def register_frame_sources(register):
            register(MySource())
    """

    name: str
    schemes: tuple[str, ...] = ()

    def can_open(self, target: Any) -> bool:
        """Whether this source reads ``target``; by default, a string or path whose scheme is in :attr:`schemes`."""
        return uri_scheme(target) in self.schemes

    @abstractmethod
    def open(self, target: Any, plan: SamplingPlan, config: EngineConfig) -> Iterable[Frame]:
        """The frames of ``target`` sampled as ``plan`` says, in time order, each at most ``plan.max_side`` on its longer side.

        Raises :class:`~trio_core.errors.MediaError` when the target cannot be read.
        """

    def describe(self) -> dict[str, Any]:
        """What ``trio plugins`` shows about this source."""
        return {"schemes": list(self.schemes)}


def find_source(target: Any, sources: list[FrameSource]) -> FrameSource:
    """The first of ``sources`` that can open ``target``, or a :class:`PluginNotFoundError` saying what to install."""
    for source in sources:
        if source.can_open(target):
            return source
    names = [source.name for source in sources]
    scheme = uri_scheme(target)
    if scheme is not None:
        raise PluginNotFoundError(missing_message("frame source", scheme, names))
    raise PluginNotFoundError(
        f"No frame source can read a {type(target).__name__} (installed: {', '.join(sorted(names)) or 'none'}); "
        "pass a file path, a URL, a numpy array or a PIL image."
    )


def read_frames(target: Any, plan: SamplingPlan | None = None, config: EngineConfig | None = None) -> list[Frame]:
    """The sampled frames of ``target`` (path, URL, array, ...), read by whichever installed source opens it.

    ``config`` defaults to the environment's :class:`~trio_core.config.EngineConfig`, and
    ``plan`` to the sampling that config describes.
    """
    if config is None:
        from .config import EngineConfig

        config = EngineConfig()
    if plan is None:
        plan = SamplingPlan.from_config(config)
    source = find_source(target, registry().objects("frame source"))
    return list(source.open(target, plan, config))


# --- Files: images with PIL, videos with PyAV ----------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What a video's headers say: ``duration`` in seconds and ``frame_count`` are ``None`` when unknown."""

    duration: float | None
    fps: float | None
    frame_count: int | None
    width: int
    height: int
    codec: str


class VideoFrames:
    """The sampled frames of one video file; iterating decodes them.

    Construction opens the file and reads its headers (so an unreadable file fails at once,
    with a :class:`MediaError`); :attr:`info` and :attr:`timestamps` are known from then on.
    Iteration seeks to the keyframe before each target time and decodes forward to the frame
    on screen at that time; when the next target lies before the next keyframe it decodes on
    instead of seeking. Times come from each frame's pts, so variable-frame-rate files are
    sampled correctly. :attr:`frames_decoded` counts the frames actually decoded.

    A container without a usable duration (a raw stream, a live-recorded WebM) is measured by
    reading its packets without decoding them, then decoded once from the start, picking
    frames by time.

    A damaged packet is skipped (as video players do); a file that keeps failing, or whose
    index points past its end (a truncated MP4), raises a :class:`MediaError`.

    Frames are turned upright when the file says it should be displayed rotated (portrait
    phone video); :attr:`info` gives the size as coded, before that turn.

    Each frame's ``index`` is its exact position in the video when decoded sequentially; after
    a seek it is ``round(timestamp * fps)`` for constant-frame-rate video, and its position
    among the yielded frames for variable-frame-rate video.
    """

    def __init__(self, path: str | os.PathLike, plan: SamplingPlan, label: str | None = None):
        self.path = Path(path)
        self.plan = plan
        self.label = label or str(path)
        self.frames_decoded = 0
        import av

        container = _open_container(self.path, self.label)
        try:
            stream = _video_stream(container, self.label)
            self._stream_index = stream.index
            self.info, self._start, self._sequential = self._probe(container, stream)
            self._constant_rate = _constant_rate(stream)
            _check_complete(stream, self.path, self.label)
        except av.FFmpegError as exc:
            raise MediaError(_damaged_message(self.label, exc)) from None
        finally:
            container.close()
        estimated_count = self.info.frame_count
        if estimated_count is None and self.info.duration and self.info.fps:
            estimated_count = max(1, round(self.info.duration * self.info.fps))
        self.timestamps = sample_timestamps(self.info.duration, estimated_count, plan)

    def _probe(self, container, stream) -> tuple[VideoInfo, float, bool]:
        """``(info, start time in seconds, whether to decode sequentially)`` from the headers, or packets if need be."""
        import av

        time_base = stream.time_base
        fps = float(stream.average_rate or stream.guessed_rate or 0) or None
        start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
        duration = None
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        frame_count = stream.frames or None
        sequential = False
        if not duration:
            # No usable duration: measure it from packet timestamps, without decoding.
            sequential = True
            fps = float(stream.guessed_rate or stream.average_rate or 0) or None
            first, end, count = _scan_packets(container, stream)
            frame_count = count or None
            if first is not None and end is not None and end > first:
                start, duration = float(first * time_base), float((end - first) * time_base)
            elif count and fps:
                duration = count / fps
        ctx = stream.codec_context
        if ctx is None:
            raise MediaError(
                f"'{self.label}' has a video stream in a codec trio cannot decode (unknown, unsupported or damaged): "
                "re-encode it as H.264 MP4."
            )
        if not ctx.width or not ctx.height:  # FFmpeg decoded nothing while probing the stream
            raise MediaError(_undecodable_message(self.label))
        info = VideoInfo(
            duration=duration,
            fps=fps,
            frame_count=frame_count,
            width=int(ctx.width),
            height=int(ctx.height),
            codec=ctx.name,
        )
        return info, start, sequential

    def __iter__(self) -> Iterator[Frame]:
        import av

        decoder = _Decoder(self.path, self.label, self._stream_index, self._start, self.info.fps, self._sequential)
        width, height = fit_within(self.info.width, self.info.height, self.plan.max_side)
        resized = (width, height) != (self.info.width, self.info.height)
        scale = {"width": width, "height": height, "interpolation": "AREA"} if resized else {}
        bar = tqdm(total=len(self.timestamps), desc=self.path.name, unit="frame", delay=1.0, disable=None, leave=False)
        seen: set[float] = set()
        yielded = 0
        try:
            for target in self.timestamps:
                chosen = decoder.frame_at(self._start + target)
                bar.update(1)
                if chosen is None:
                    continue
                frame, time, index = chosen
                if time in seen:  # two targets inside one frame's display time: yield it once
                    continue
                seen.add(time)
                if index is None:
                    constant = self._constant_rate and self.info.fps
                    index = round((time - self._start) * self.info.fps) if constant else yielded
                image = frame.to_ndarray(format="rgb24", **scale)  # (height, width, 3) uint8
                # Phones store portrait video sideways plus a display rotation (degrees counterclockwise,
                # PyAV >= 14); np.rot90 turns counterclockwise for k > 0 too.
                turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
                if turns:
                    image = np.ascontiguousarray(np.rot90(image, k=turns))
                yielded += 1
                yield Frame(image=image, timestamp=max(0.0, time - self._start), index=index)
        except av.FFmpegError as exc:
            if yielded == 0:
                raise MediaError(_undecodable_message(self.label, exc)) from None
            raise MediaError(_damaged_message(self.label, exc, at=decoder.position - self._start)) from None
        finally:
            self.frames_decoded += decoder.frames_decoded
            bar.close()
            decoder.close()
        if yielded == 0:
            raise MediaError(_undecodable_message(self.label))


class _Decoder:
    """A decode position in one video stream that moves forward, by seeking or decoding on.

    ``frame_at(t)`` returns the frame on screen at time ``t`` (the last frame whose time is
    ``<= t``, or the first frame when ``t`` precedes it), as ``(frame, time, index)``.
    """

    def __init__(self, path: Path, label: str, stream_index: int, start: float, fps: float | None, sequential: bool):
        self.path, self.label, self.stream_index = path, label, stream_index
        self.start, self.fps, self.sequential = start, fps, sequential
        self.frames_decoded = 0
        self.errors = 0  # decode errors in a row
        self.position = start  # time of the latest decoded frame
        self.container = None
        self._reopen()

    def _reopen(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container = _open_container(self.path, self.label)
        self.stream = self.container.streams[self.stream_index]
        self.stream.thread_type = "AUTO"
        self._restart()
        self.counted = 0  # frames decoded since the start of the file; None once a seek loses count

    def _restart(self) -> None:
        self.frames = self.container.decode(self.stream)
        self.ahead = None  # (frame, time, index) decoded but after the current target
        self.on_screen = None  # (frame, time, index): the last decoded frame at or before the current target

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def frame_at(self, t: float):
        if self._should_seek(t):
            self._seek(t)
            found = self._advance(t)
            if self.on_screen is None and self.ahead is not None and self.ahead[1] > t + self._slack():
                # The container seeked past the target: read it from the start instead.
                self.sequential = True
                self._reopen()
                self.position = self.start
                found = self._advance(t)
            return found
        return self._advance(t)

    def _slack(self) -> float:
        return 2.0 / self.fps if self.fps else 0.1

    def _should_seek(self, t: float) -> bool:
        if self.sequential or t <= self.position:
            return False
        keyframe = self._keyframe_before(t)
        if keyframe is not None:
            return keyframe > self.position
        return t - self.position > SEEK_GAP_S

    def _keyframe_before(self, t: float) -> float | None:
        entries = getattr(self.stream, "index_entries", None)  # PyAV >= 15
        if entries is None or len(entries) < 2:
            return None
        time_base = self.stream.time_base
        found = entries.search_timestamp(int(t / time_base), backward=True)
        if found < 0:
            return None
        return float(entries[found].timestamp * time_base)

    def _seek(self, t: float) -> None:
        import av

        try:
            self.container.seek(int(t / self.stream.time_base), stream=self.stream, backward=True)
        except av.FFmpegError:
            self.sequential = True  # not seekable: decode on from here
            return
        self.counted = None
        self._restart()

    def _next(self):
        import av

        while True:
            try:
                frame = next(self.frames, None)
                break
            except av.FFmpegError:
                self.errors += 1
                if self.errors > MAX_DECODE_ERRORS:
                    raise
                self.frames = self.container.decode(self.stream)  # skip the damaged packet, go on
        if frame is None:
            return None
        self.errors = 0
        self.frames_decoded += 1
        index = self.counted
        if self.counted is not None:
            self.counted += 1
        if frame.pts is not None and frame.time is not None:
            time = float(frame.time)
        else:  # no timestamps (raw streams, decoded sequentially): count frames from the start
            time = self.start + (index if index is not None else self.frames_decoded - 1) / (self.fps or 25.0)
        self.position = time
        return frame, time, index

    def _advance(self, t: float):
        while True:
            if self.ahead is None:
                self.ahead = self._next()
                if self.ahead is None:  # end of stream
                    return self.on_screen
            if self.ahead[1] <= t:
                self.on_screen, self.ahead = self.ahead, None
                continue
            return self.on_screen if self.on_screen is not None else self.ahead


def _open_container(path: Path, label: str):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(_unreadable_message(path, label, exc)) from None
    except OSError as exc:
        raise MediaError(_os_error_message(label, exc)) from None


def _video_stream(container, label: str):
    if container.streams.video:
        return container.streams.video[0]
    kinds = sorted({stream.type for stream in container.streams})
    has = f"only {' and '.join(kinds)}" if kinds else "no streams at all"
    raise MediaError(f"'{label}' has no video stream (it has {has}): pass a video or image file.")


def _constant_rate(stream) -> bool:
    """Whether the stream's average frame rate matches its base rate, i.e. it is not variable-frame-rate."""
    average, base = stream.average_rate, stream.guessed_rate
    return bool(average and base) and abs(float(average) - float(base)) <= 0.001 * float(base)


def _check_complete(stream, path: Path, label: str) -> None:
    """The :class:`MediaError` for a file whose own index says it holds more than it does (cut off while copying)."""
    entries = getattr(stream, "index_entries", None)  # PyAV >= 15
    if not entries:
        return
    last = entries[len(entries) - 1]
    size = path.stat().st_size
    if last.pos >= 0 and last.pos + last.size > size:
        percent = 100 * size / (last.pos + last.size)
        raise MediaError(
            f"'{label}' is truncated (it holds only about {percent:.0f}% of its video data): download or export it again."
        )


def _scan_packets(container, stream) -> tuple[int | None, int | None, int]:
    """``(first pts, end pts, packet count)`` of a stream, by demuxing without decoding."""
    import av

    first = end = None
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            count += 1
            if packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                packet_end = packet.pts + (packet.duration or 0)
                end = packet_end if end is None else max(end, packet_end)
    except av.FFmpegError:
        pass  # a damaged tail: what was read is the best measure there is
    return first, end, count


def _sniff(path: Path) -> str | None:
    """What an unreadable file seems to be, from its first bytes: ``"mp4"``, ``"text"`` or ``None``."""
    try:
        with open(path, "rb") as file:
            head = file.read(2048)
    except OSError:
        return None
    if head[4:8] == b"ftyp":
        return "mp4"
    if head and b"\0" not in head:
        try:
            head.decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return None


def _unreadable_message(path: Path, label: str, exc: BaseException | None = None) -> str:
    kind = _sniff(path)
    if kind == "text":
        return f"'{label}' is a text file, not a video or image: pass a video (mp4, mkv, webm, ...) or image file."
    if kind == "mp4":
        return (
            f"'{label}' is an MP4/MOV file that is truncated or damaged (its index cannot be read): "
            "download or export it again."
        )
    return (
        f"'{label}' is not a video or image trio can read (it is corrupt, truncated or in an unsupported format): "
        "check that it plays in a video player, or re-encode it as H.264 MP4."
    )


def _damaged_message(label: str, exc: BaseException, at: float | None = None) -> str:
    where = f" around {at:.1f} s" if at is not None and at > 0 else ""
    if isinstance(exc, EOFError):  # av.error.EOFError: the data stops before the headers say it does
        return f"'{label}' ends early{where} (it is truncated): download or export it again."
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"'{label}' is damaged{where} ({detail}): download or export it again, or re-encode it as H.264 MP4."


def _undecodable_message(label: str, exc: BaseException | None = None) -> str:
    detail = f" ({getattr(exc, 'strerror', None) or exc})" if exc is not None else ""
    return (
        f"'{label}' has a video stream but none of its frames could be decoded{detail}: "
        "the file is damaged, so download or export it again."
    )


def _os_error_message(label: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"'{label}' cannot be opened (permission denied): check the file's permissions."
    return f"'{label}' cannot be read ({exc.strerror or exc}): check the file and the disk it is on."


def _check_file(path: Path, label: str) -> None:
    """The :class:`MediaError` for a path that is missing, a directory or empty."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MediaError(f"'{label}' does not exist: check the path.") from None
    except OSError as exc:
        raise MediaError(_os_error_message(label, exc)) from None
    if path.is_dir():
        raise MediaError(f"'{label}' is a directory, not a video or image: pass one of the files inside it.")
    if stat.st_size == 0:
        raise MediaError(f"'{label}' is empty (0 bytes): download or copy it again.")


def _read_image(path: Path, plan: SamplingPlan, label: str) -> Frame | None:
    """The image at ``path`` as one frame, or ``None`` when it is animated (then it is read as a video)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if getattr(image, "is_animated", False):
                return None
            image.load()
            return Frame(image=_fit_image(image, plan.max_side), timestamp=0.0, index=0)
    except UnidentifiedImageError:
        raise MediaError(_unreadable_message(path, label)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports truncated and damaged data this way
        raise MediaError(f"'{label}' is a damaged or truncated image ({exc}): download or export it again.") from None


def _fit_image(image, max_side: int | None) -> np.ndarray:
    """A PIL image as ``(height, width, 3)`` uint8 RGB, scaled down to fit ``max_side``."""
    from PIL import Image

    if image.mode != "RGB":
        image = image.convert("RGB")
    size = fit_within(image.width, image.height, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _path_of(target: str | os.PathLike) -> Path:
    """A local path from a plain path or a ``file://`` URL."""
    if isinstance(target, str) and target.lower().startswith("file:"):
        parts = urlsplit(target)
        if parts.netloc and parts.netloc != "localhost":
            return Path(url2pathname(f"//{parts.netloc}{parts.path}"))
        return Path(url2pathname(parts.path))
    return Path(target)


def open_media_file(path: str | os.PathLike, plan: SamplingPlan, label: str | None = None) -> Iterable[Frame]:
    """The sampled frames of a local image or video file; ``label`` names it in errors (default: the path).

    An image gives a one-frame list; a video gives a :class:`VideoFrames`.
    """
    path = Path(path)
    label = label or str(path)
    _check_file(path, label)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        frame = _read_image(path, plan, label)
        if frame is not None:
            return [frame]
    return VideoFrames(path, plan, label=label)


class FileSource(FrameSource):
    """Local video and image files: plain paths (``clip.mp4``, ``C:\\clips\\a.mkv``) and ``file://`` URLs.

    Images (jpg, png, webp, bmp, gif, tiff) are read with Pillow as one frame; anything else
    is decoded with PyAV (FFmpeg), sampled by seeking (see :class:`VideoFrames`).
    """

    name = "file"
    schemes = ("file",)

    def open(self, target, plan: SamplingPlan, config: EngineConfig | None = None) -> Iterable[Frame]:
        path = _path_of(target)
        label = target if isinstance(target, str) else str(path)
        return open_media_file(path, plan, label=label)


# --- URLs ----------------------------------------------------------------------------------


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
                "(--download-timeout-s or TRIO_DOWNLOAD_TIMEOUT_S)."
            ) from None
        if isinstance(exc, httpx.ConnectError):
            raise MediaError(
                f"Could not connect to '{url}' ({exc}): check the URL and that the server is up."
            ) from None
        if isinstance(exc, (httpx.HTTPError, httpx.InvalidURL, OSError)):
            raise MediaError(f"Could not download '{url}' ({exc or type(exc).__name__}): check the URL.") from None
        raise


def _too_large_message(url: str, max_mb: float, size: int | None = None) -> str:
    size_text = f" ({size / 1024 / 1024:.1f} MB)" if size is not None else ""
    return (
        f"'{url}' is larger{size_text} than the download limit of {max_mb:g} MB: raise download_max_mb "
        "(--download-max-mb or TRIO_DOWNLOAD_MAX_MB) or download it yourself."
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


# --- In-memory frames ----------------------------------------------------------------------


class ArraySource(FrameSource):
    """Frames already in memory: a numpy array ``(H, W, 3)`` or ``(T, H, W, 3)``, a PIL image, or a list of them.

    Arrays are RGB; grayscale ``(H, W)`` and RGBA are converted, integer values are clipped to
    0..255, and float arrays are read as 0..1 when their maximum is at most 1 (else 0..255).
    More frames than ``plan.max_frames`` are subsampled uniformly; frame ``i`` gets the
    timestamp ``i / plan.fps``, as if the frames were a clip recorded at ``plan.fps``.
    """

    name = "array"
    schemes = ()

    def can_open(self, target: Any) -> bool:
        if isinstance(target, (list, tuple)):
            return all(_is_array_or_image(item) for item in target)
        return _is_array_or_image(target)

    def open(self, target, plan: SamplingPlan, config: EngineConfig | None = None) -> list[Frame]:
        images = _as_images(target)
        keep = sample_indices(len(images), plan.max_frames)
        frames = []
        for index in keep:
            image, what = images[index]
            if isinstance(image, np.ndarray):
                array = _fit_array(_to_rgb(image, what), plan.max_side)
            else:
                array = _fit_image(image, plan.max_side)
            frames.append(Frame(image=array, timestamp=index / plan.fps, index=index))
        return frames

    def describe(self) -> dict[str, Any]:
        return {"schemes": [], "accepts": ["numpy.ndarray", "PIL.Image.Image", "list of those"]}


def _is_array_or_image(obj: Any) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(obj, Image.Image)


def _as_images(target: Any) -> list[tuple[Any, str]]:
    """One ``(image, what)`` per frame, ``what`` naming it in errors."""
    if isinstance(target, np.ndarray):
        if target.ndim == 4:
            _check_shape(target.shape[1:], "the array", target.shape)
            return [(frame, "the array") for frame in target]
        return [(target, "the array")]
    if len(target) == 0:
        raise MediaError("The list of frames is empty: pass at least one image or array.")
    return [(item, f"frame {position} of the list") for position, item in enumerate(target)]


def _check_shape(frame_shape: tuple, what: str, shape: tuple) -> None:
    ndim = len(frame_shape)
    if ndim not in (2, 3) or (ndim == 3 and frame_shape[-1] not in (1, 3, 4)) or 0 in shape:
        raise MediaError(
            f"{what[0].upper()}{what[1:]} has shape {shape}: pass (H, W, 3) or (T, H, W, 3) RGB, "
            "(H, W) grayscale or (H, W, 4) RGBA, with no empty dimension."
        )


def _to_rgb(array: np.ndarray, what: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a grayscale, RGB or RGBA array of any real dtype."""
    _check_shape(array.shape, what, array.shape)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise MediaError(f"{what[0].upper()}{what[1:]} has dtype {array.dtype}: pass numbers (uint8 RGB).")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]  # drop alpha
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        array = np.nan_to_num(array.astype(np.float64))
        if array.max(initial=0.0) <= 1.0:
            array = array * 255.0
        array = np.rint(array)
    return np.clip(array, 0, 255).astype(np.uint8)


def _fit_array(array: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = array.shape[:2]
    if fit_within(width, height, max_side) == (width, height):
        return array
    from PIL import Image

    return _fit_image(Image.fromarray(array), max_side)


@hookimpl
def register_frame_sources(register):
    register(FileSource())
    register(HttpSource())
    register(ArraySource())


__all__ = [
    "ArraySource",
    "FileSource",
    "FrameSource",
    "HttpSource",
    "VideoFrames",
    "VideoInfo",
    "download",
    "find_source",
    "open_media_file",
    "read_frames",
    "uri_scheme",
]
