"""What flows between a frame source and the model: timestamped RGB frames, and frames as JPEG.

JPEG encoding lives here, with the frames, because everything that shows a frame to someone
else needs it: an alert's snapshot, an event's ``jpeg_b64``, a remote backend's request.
:func:`synthetic_frames` draws deterministic frames for calibration, benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

import numpy as np

from .errors import MediaError

# The most pixels trio decodes one picture into (an image, or a video's frame): 4096 x 4096, a 4K-class frame with
# room for a 12-megapixel photo. A file declares its size in a few bytes; a 17 KB PNG can declare 12000 x 12000,
# which decoded is 430 MB: the size is checked before decoding (EngineConfig.max_pixels sets it).
MAX_PIXELS = 4096 * 4096
# The image formats trio decodes, by Pillow's names. Not every format Pillow knows: some decode more than their header
# says while opening (an ICO or ICNS holds a PNG of any size), and EPS runs Ghostscript on what it is given.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG opens phones' MPO files too


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
    max_pixels: int = MAX_PIXELS  # larger pictures are refused before they are decoded (see check_pixels)

    @classmethod
    def from_config(cls, config) -> SamplingPlan:
        return cls(
            fps=config.fps, min_frames=config.min_frames, max_frames=config.max_frames, max_side=config.max_side,
            max_pixels=config.max_pixels,
        )  # fmt: skip


class TooManyPixels(MediaError):
    """A picture that declares more pixels than trio decodes (a server answers 413)."""


def check_pixels(width: int, height: int, max_pixels: int, label: str) -> None:
    """Refuse, before decoding, a picture larger than ``max_pixels``: one sentence saying what to do."""
    if width * height > max_pixels:
        raise TooManyPixels(
            f"{label} is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than trio decodes "
            f"({max_pixels / 1e6:.1f}): send it smaller, or raise max_pixels (TRIO_MAX_PIXELS)."
        )


def read_image(file: str | IO[bytes], label: str, max_pixels: int = MAX_PIXELS):
    """Open and decode an image with Pillow, never holding more than ``max_pixels`` of it (see :func:`decode_within`).
    Returns the PIL image, loaded; other unreadable data raises Pillow's own errors for the caller to word."""
    return decode_within(open_picture(file, label), label, max_pixels)


def open_picture(file: str | IO[bytes], label: str):
    """An image opened with Pillow in one of :data:`IMAGE_FORMATS`, its header read and nothing decoded; Pillow's own
    size ceiling is :class:`TooManyPixels`."""
    from PIL import Image

    Image.init()  # every plugin registered: IMAGE_FORMATS names some Pillow only loads on demand
    try:
        return Image.open(file, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own ceiling, twice its warning size: far above ours
        raise TooManyPixels(f"{label} declares more pixels than Pillow will decode: send it smaller.") from None


def decode_within(image, label: str, max_pixels: int):
    """Decode an opened image (:func:`open_picture`) only if its declared size is within ``max_pixels``: a larger JPEG
    is decoded reduced (DCT scaling, 1/2 to 1/8) where that brings it under the cap, anything else larger is
    :class:`TooManyPixels` (the image closed)."""
    width, height = image.size
    # A progressive JPEG is held whole by libjpeg (all its coefficients) however small it is decoded: refused.
    if width * height > max_pixels and image.format in ("JPEG", "MPO") and not image.info.get("progressive"):
        for divisor in (2, 4, 8):
            if (width // divisor) * (height // divisor) <= max_pixels:
                image.draft(image.mode if image.mode in ("RGB", "L") else "RGB", (width // divisor, height // divisor))
                break
    if image.size[0] * image.size[1] > max_pixels:
        image.close()
        check_pixels(width, height, max_pixels, label)  # raises, with the size the file declares
    image.load()
    return image


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
