"""What flows between a frame source and the model: timestamped RGB frames, and frames as JPEG.

JPEG encoding lives here, with the frames, because everything that shows a frame to someone
else needs it: an alert's snapshot, an event's ``jpeg_b64``, a remote backend's request.
:func:`synthetic_frames` draws deterministic frames for calibration, benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    ``image`` is ``(height, width, 3)`` uint8 RGB; ``timestamp`` is seconds from the start of
    the source; ``index`` is the frame's position in the source when known (else its
    position among the frames the source yielded).
    """

    image: np.ndarray
    timestamp: float
    index: int
    # When a live source read it (time.monotonic()); None for files. A watch measures its lag from here.
    captured: float | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class SourceNotice:
    """Something a live source tells a watch between its frames: ``reconnecting`` or ``reconnected``.

    A live source yields these among its frames; the watch turns each into an event of that
    ``kind`` with the ``details`` (the attempt, the delay, the error).
    """

    kind: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingPlan:
    """How many frames to take from a source, and how large.

    A file source spreads ``clamp(duration * fps, min_frames, max_frames)`` frames uniformly
    over the video (never more than the video has) and seeks to each; a live source takes at
    most ``fps`` frames a second. Frames are scaled down so the longer side is at most
    ``max_side`` (aspect ratio kept).
    """

    fps: float = 2.0
    min_frames: int = 2
    max_frames: int = 16
    max_side: int | None = 640

    @classmethod
    def from_config(cls, config) -> SamplingPlan:
        return cls(fps=config.fps, min_frames=config.min_frames, max_frames=config.max_frames, max_side=config.max_side)


def fit_within(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled down so neither side exceeds ``max_side``; even sizes for the scaler."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def scale_arguments(width: int, height: int, max_side: int | None) -> dict:
    """PyAV's ``to_ndarray`` arguments that scale a ``width`` x ``height`` frame to fit ``max_side`` (none if it fits)."""
    fitted = fit_within(width, height, max_side)
    if fitted == (width, height):
        return {}
    return {"width": fitted[0], "height": fitted[1], "interpolation": "AREA"}


def jpeg_bytes(image: np.ndarray, quality: int = 85, *, full_colour: bool = False) -> bytes:
    """``image`` as JPEG; ``full_colour`` keeps every pixel's colour (4:4:4) instead of one per 2x2 block (4:2:0,
    the smaller default): what a model is shown, where thin coloured edges matter, rather than what a person is."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0 if full_colour else -1)
    return buffer.getvalue()


def jpeg_b64(image: np.ndarray) -> str:
    """``image`` as base64 JPEG text (an event's ``jpeg_b64``)."""
    import base64

    return base64.b64encode(jpeg_bytes(image)).decode()


def synthetic_frames(count: int, size: int) -> list[np.ndarray]:
    """A square moving across a gradient: deterministic frames that differ from each other."""
    y, x = np.mgrid[0:size, 0:size]
    frames = []
    for index in range(count):
        frame = np.stack([(x * 255 // size), (y * 255 // size), np.full_like(x, 96)], axis=-1).astype(np.uint8)
        side = size // 5
        left = (index * size // max(count, 1)) % (size - side)
        frame[size // 3 : size // 3 + side, left : left + side] = (230, 40, 40)
        frames.append(frame)
    return frames
