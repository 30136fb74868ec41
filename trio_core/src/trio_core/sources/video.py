"""Decoding a video file with PyAV, sampled by seeking: :class:`VideoFrames`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import MediaError
from ..frames import MAX_PIXELS, Frame, SamplingPlan, check_pixels, scale_arguments
from ..sampling import sample_timestamps
from .unreadable import damaged_message, os_error_message, undecodable_message, unreadable_message

# A target after decoding this far (seconds) is reached by decoding on rather than by
# seeking, when the container has no keyframe index to decide exactly.
SEEK_GAP_S = 1.0

# Damaged packets in a row that are skipped before a video counts as unreadable.
MAX_DECODE_ERRORS = 8


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

        container = _open_container(self.path, self.label, plan.max_pixels)
        try:
            stream = _video_stream(container, self.label)
            self._stream_index = stream.index
            self.info, self._start, self._sequential = self._probe(container, stream)
            check_pixels(self.info.width, self.info.height, plan.max_pixels, f"'{self.label}'")  # before decoding any
            self._constant_rate = _constant_rate(stream)
            _check_complete(stream, self.path, self.label)
        except av.FFmpegError as exc:
            raise MediaError(damaged_message(self.label, exc)) from None
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
            raise MediaError(undecodable_message(self.label))
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

        decoder = _Decoder(
            self.path, self.label, self._stream_index, self._start, self.info.fps, self._sequential,
            self.plan.max_pixels,
        )  # fmt: skip
        scale = scale_arguments(self.info.width, self.info.height, self.plan.max_side)
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
                raise MediaError(undecodable_message(self.label, exc)) from None
            raise MediaError(damaged_message(self.label, exc, at=decoder.position - self._start)) from None
        finally:
            self.frames_decoded += decoder.frames_decoded
            bar.close()
            decoder.close()
        if yielded == 0:
            raise MediaError(undecodable_message(self.label))


class _Decoder:
    """A decode position in one video stream that moves forward, by seeking or decoding on.

    ``frame_at(t)`` returns the frame on screen at time ``t`` (the last frame whose time is
    ``<= t``, or the first frame when ``t`` precedes it), as ``(frame, time, index)``.
    """

    def __init__(
        self, path: Path, label: str, stream_index: int, start: float, fps: float | None, sequential: bool,
        max_pixels: int = MAX_PIXELS,
    ):  # fmt: skip
        self.path, self.label, self.stream_index = path, label, stream_index
        self.start, self.fps, self.sequential = start, fps, sequential
        self.max_pixels = max_pixels
        self.frames_decoded = 0
        self.errors = 0  # decode errors in a row
        self.position = start  # time of the latest decoded frame
        self.container = None
        self._reopen()

    def _reopen(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container = _open_container(self.path, self.label, self.max_pixels)
        self.stream = self.container.streams[self.stream_index]
        self.stream.thread_type = "AUTO"
        # The decoder refuses a frame larger than the cap before it allocates it: a file may declare a small size
        # and then carry a huge frame (two PNGs in a row, a resolution change).
        self.stream.codec_context.options = {"max_pixels": str(self.max_pixels)}
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


# The demuxers a video file is read with: containers and raw streams of pictures. Not the formats that name other
# files or URLs to open (concat lists, HLS and DASH playlists, SDP, IMF, ...): a file a request uploaded could make
# FFmpeg read the server's files through them, and a video file is one file.
VIDEO_DEMUXERS = (
    "mov", "matroska", "webm", "avi", "mpegts", "mpeg", "mpegvideo", "m4v", "flv", "asf", "ogg", "nut", "mxf", "dv",
    "wtv", "rm", "vob", "ivf", "obu", "av1", "h264", "hevc", "vvc", "mjpeg", "mpjpeg", "gif", "apng", "yuv4mpegpipe",
    "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
    "wav", "mp3", "aac", "flac", "aiff",  # audio only: read to say it has no video
)  # fmt: skip


def _open_container(path: Path, label: str, max_pixels: int = MAX_PIXELS):
    import av

    # max_pixels: FFmpeg decodes a frame while it probes some files (an image as a video); a larger one is refused.
    options = {"format_whitelist": ",".join(VIDEO_DEMUXERS), "max_pixels": str(max_pixels)}
    try:
        return av.open(str(path), metadata_errors="ignore", options=options)
    except av.FFmpegError as exc:
        raise MediaError(unreadable_message(path, label, exc)) from None
    except OSError as exc:
        raise MediaError(os_error_message(label, exc)) from None


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
