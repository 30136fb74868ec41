"""Reading a live input with PyAV (a camera stream, a webcam): sampled frames, and reconnecting when it drops.

:class:`LiveFrames` is what a live source's ``open`` returns. It opens the input at once (so a
wrong address, a refused port or a wrong password fails before anything else, as one
:class:`~trio_core.errors.MediaError` sentence), then, while iterated, decodes every frame,
keeps at most ``plan.fps`` a second (chosen by the stream's own timestamps, so a burst of
buffered frames after a connect is not mistaken for time passing) and converts only those.

When the input fails after it has played (the camera reboots, the network drops, the stream
stalls longer than the read timeout), it yields a ``reconnecting``
:class:`~trio_core.frames.SourceNotice` (the attempt, the delay, the reason), waits with
exponential backoff and jitter, and a ``reconnected`` one when frames flow again; a refused
password ends it with one error instead (retrying would only lock the account). Frame
timestamps are seconds since the input first opened and keep counting across outages.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MediaError
from ..frames import Frame, SamplingPlan, SourceNotice, TooManyPixels, check_pixels, scale_arguments


class LiveSettings(BaseModel):
    """How a live input is read and reconnected; each source adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open_timeout_s: float = Field(10.0, gt=0.0, le=600, description="Give up opening the input after this long.")
    read_timeout_s: float = Field(
        10.0, gt=0.0, le=600, description="A stream that sends nothing for this long has stalled: reconnect."
    )
    reconnect: bool = Field(True, description="Reconnect when a stream that has played drops (else it ends).")
    reconnect_attempts: int = Field(0, ge=0, description="Failed reconnects in a row before giving up; 0 is never.")
    backoff_initial_s: float = Field(0.5, gt=0.0, le=60, description="Wait before the first reconnect.")
    backoff_max_s: float = Field(30.0, gt=0.0, le=3600, description="Longest wait between reconnects.")
    backoff_jitter: float = Field(
        0.25, ge=0.0, le=1.0, description="Each wait is off by up to this share, so many cameras do not retry in step."
    )


def backoff_delay(attempt: int, settings: LiveSettings, rng: random.Random | None = None) -> float:
    """The wait before reconnect ``attempt`` (1, 2, ...): doubling from ``backoff_initial_s``, capped, with jitter."""
    base = min(settings.backoff_max_s, settings.backoff_initial_s * 2 ** (attempt - 1))
    spread = base * settings.backoff_jitter
    return max(0.0, base + (rng or random).uniform(-spread, spread))


class Refused(MediaError):
    """An input that must not be retried: its credentials (or permissions) were refused."""


@dataclass
class Opened:
    """An open input: the PyAV container and its video stream."""

    container: object
    stream: object
    reader: object | None = None  # a file-like input trio reads for FFmpeg (a pinned connection): closed with it

    @classmethod
    def input(
        cls, file: str | object, *, format: str | None, options: dict, settings: LiveSettings, failed, no_video: str
    ) -> Opened:
        """Open ``file`` (a URL or device FFmpeg opens, or a file-like object it reads, closed with the input) with
        PyAV and take its video stream; ``failed(error)`` is the MediaError for an FFmpeg error, ``no_video`` the
        sentence for an input without video."""
        import av

        reader = None if isinstance(file, str) else file
        # PyAV gives up on a read after about twice its timeout: half of ours is ours.
        timeout = (settings.open_timeout_s, settings.read_timeout_s / 2)
        try:
            container = av.open(file, format=format, options=options, timeout=timeout)
        except BaseException as error:
            _close(reader)
            if isinstance(error, av.FFmpegError):
                raise failed(error) from None
            raise
        if not container.streams.video:
            container.close()
            _close(reader)
            raise MediaError(no_video)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return cls(container, stream, reader)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail too; it is gone either way
            self.container.close()
        _close(self.reader)


def _close(reader: object | None) -> None:
    with contextlib.suppress(Exception):
        if reader is not None:
            reader.close()


class LiveFrames:
    """The sampled frames of one live input; iterate it (once). See the module's docstring.

    ``connect()`` opens the input and returns an :class:`Opened`, raising a
    :class:`MediaError` in one sentence when it cannot (a :class:`Refused` one when retrying is
    pointless). ``live`` tells a watch to analyse the newest frame and drop the rest. At most
    ``plan.max_frames`` frames are yielded, so a one-off question about a camera takes a clip
    (``plan.max_frames / plan.fps`` seconds) and ends.
    """

    live = True

    def __init__(
        self,
        connect: Callable[[], Opened],
        plan: SamplingPlan,
        settings: LiveSettings,
        *,
        label: str,
        rng: random.Random | None = None,
        by_arrival: bool = False,
    ):
        self.connect, self.plan, self.settings, self.label = connect, plan, settings, label
        # Time frames by when they arrive, not by their pts (MJPEG has none: FFmpeg counts them at 25 a second).
        self.by_arrival = by_arrival
        self.rng = rng or random.Random()
        self.frames_decoded = 0
        self._closed = threading.Event()
        self._iterating = False
        self._last_time: float | None = None  # the timestamp of the newest frame given
        self._started = time.monotonic()  # time 0 of the frames: when the input began to open
        self._opened: Opened | None = connect()  # fails now, before anything is iterated

    def close(self) -> None:
        """Stop: a wait between reconnects ends at once; the input is closed (by the reading thread, if one reads)."""
        self._closed.set()
        if not self._iterating and self._opened is not None:
            self._opened.close()
            self._opened = None

    def __iter__(self) -> Iterator[Frame | SourceNotice]:
        self._iterating = True
        yielded = 0
        reason = ""
        try:
            while not self._closed.is_set():
                if self._opened is None and not (yield from self._reconnect(reason)):
                    return
                opened = self._opened
                try:
                    for frame in self._sampled(opened):
                        yield frame
                        yielded += 1
                        if yielded >= self.plan.max_frames or self._closed.is_set():
                            return
                    reason = "the stream ended"
                except MediaError as error:
                    if isinstance(error, Refused | TooManyPixels):  # the same again after a reconnect
                        raise
                    if not self.settings.reconnect:
                        raise MediaError(f"{error}, and reconnect is off: the watch ends.") from None
                    reason = str(error)
                finally:
                    opened.close()
                    self._opened = None
                if not self.settings.reconnect:
                    return
        finally:
            self._iterating = False
            self.close()

    def _reconnect(self, reason: str):
        """Reopen after a loss, yielding a notice before each wait; whether it reopened (False once closed)."""
        lost_at = time.monotonic()
        attempt = 0
        while not self._closed.is_set():
            attempt += 1
            limit = self.settings.reconnect_attempts
            if limit and attempt > limit:
                raise MediaError(
                    f"'{self.label}' did not come back after {limit} reconnects (the last: {reason.rstrip('.')}); "
                    "check the camera, or allow more with reconnect_attempts (0 is never to give up)."
                )
            delay = backoff_delay(attempt, self.settings, self.rng)
            yield SourceNotice("reconnecting", {"attempt": attempt, "delay_s": round(delay, 3), "reason": reason})
            if self._closed.wait(delay):
                return False
            try:
                self._opened = self.connect()
            except Refused:
                raise
            except MediaError as error:
                reason = str(error)
                continue
            yield SourceNotice("reconnected", {"attempt": attempt, "outage_s": round(time.monotonic() - lost_at, 3)})
            return True
        return False

    def _sampled(self, opened: Opened) -> Iterator[Frame]:
        """The frames of one connection at most ``plan.fps`` a second, timed from when the input began to open."""
        import av

        stream = opened.stream
        interval = 1.0 / self.plan.fps
        declared = stream.codec_context
        if declared.width and declared.height:  # refused before a frame of it is decoded
            check_pixels(declared.width, declared.height, self.plan.max_pixels, f"'{self.label}'")
        # And a frame that grows later: the decoder refuses it before allocating it (a decode error, then a reconnect).
        declared.options = {**declared.options, "max_pixels": str(self.plan.max_pixels)}

        def now() -> float:  # seconds since the input opened, never before a frame already given
            elapsed = time.monotonic() - self._started
            return elapsed if self._last_time is None else max(elapsed, self._last_time + interval)

        # Time is ``anchor + (pts - first_pts)``: the stream's own clock, from the arrival of its first timed frame.
        anchor = first_pts = last = due = None
        size = scale = None
        try:
            for frame in opened.container.decode(stream):
                self.frames_decoded += 1
                arrived = time.monotonic()
                pts = None if self.by_arrival else frame.time
                if pts is not None and last is not None and (pts < last - 1.0 or pts > last + 10.0):
                    first_pts = None  # a jump (the camera restarted its clock): anchor again from here
                if pts is not None and first_pts is None:
                    first_pts, anchor = pts, now()
                t = anchor + (pts - first_pts) if pts is not None else now()
                last = pts
                if due is not None and t < due - interval * 0.05:
                    continue
                due = t + interval if due is None or t - due > interval else due + interval
                if size != (frame.width, frame.height):  # a camera may change its resolution mid-stream
                    size = (frame.width, frame.height)
                    check_pixels(*size, self.plan.max_pixels, f"'{self.label}'")
                    scale = scale_arguments(frame.width, frame.height, self.plan.max_side)
                image = frame.to_ndarray(format="rgb24", **scale)
                self._last_time = t
                yield Frame(image=image, timestamp=round(t, 4), index=self.frames_decoded - 1, captured=arrived)
        except av.FFmpegError as error:
            raise MediaError(self.lost_message(error)) from None

    def lost_message(self, error: BaseException) -> str:
        """Why a playing input stopped, in words (masked: the label never carries a password)."""
        import av

        if isinstance(error, (av.error.ExitError, av.error.TimeoutError)):
            return f"'{self.label}' sent nothing for {self.settings.read_timeout_s:g} s"
        if isinstance(error, av.error.EOFError):
            return "the stream ended"
        return f"'{self.label}' broke off ({getattr(error, 'strerror', None) or error})"
