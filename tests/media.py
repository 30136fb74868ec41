"""Real media files for tests, written with PyAV: clips whose frames say which frame they are.

``numbered_frames`` draws each frame's number as a grid of black and white cells that
survives compression and scaling, so a test can check *which* frame a source returned with
``frame_number(image)``. The PyAV wheel's encoders include ``mpeg4``, ``libx264``,
``libvpx``/``libvpx-vp9`` and ``mjpeg``; ``mpeg4`` is the fastest and the default here.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

# The frame number is written as BITS cells, COLUMNS per row, each cell black (0) or white (1).
BITS = 12
COLUMNS = 6
ROWS = BITS // COLUMNS


def write_clip(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float | Fraction = 30,
    *,
    codec: str = "mpeg4",
    keyframe_interval: int = 30,
    times: Sequence[float] | None = None,
    format: str | None = None,
    seekable: bool = True,
    faststart: bool = False,
) -> Path:
    """Encode ``(H, W, 3)`` uint8 RGB frames as a video file (container from the extension, or ``format``).

    ``times`` gives each frame's presentation time in seconds, for variable-frame-rate clips
    (written in a 1/1000 s time base); otherwise frame ``i`` is at ``i / fps``.
    ``seekable=False`` writes as to a pipe, so the muxer cannot go back to record the
    duration or an index (like a live recording cut off by a browser's MediaRecorder).
    ``faststart=True`` puts an MP4's index before its data, as streaming sites do.
    """
    import av

    path = Path(path)
    rate = Fraction(fps).limit_denominator(100000)
    with contextlib.ExitStack() as stack:
        if seekable:
            options = {"movflags": "faststart"} if faststart else {}
            container = stack.enter_context(av.open(str(path), "w", format=format, options=options))
        else:
            pipe = _Pipe(stack.enter_context(open(path, "wb")))
            format = format or {"mkv": "matroska"}.get(path.suffix[1:], path.suffix[1:])
            container = stack.enter_context(av.open(pipe, "w", format=format))
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = keyframe_interval
        stream.bit_rate = 4_000_000  # generous for these tiny frames: shades survive compression
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, image in enumerate(frames):
            if i == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if times is not None:
                frame.pts = round(times[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class _Pipe(io.RawIOBase):
    """A write-only file that cannot seek."""

    def __init__(self, file):
        self.file = file

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        return self.file.write(data)


def numbered_frames(count: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """``count`` frames of ``size`` (width, height), frame ``i`` showing ``i`` in binary cells."""
    width, height = size
    frames = []
    for number in range(count):
        bits = np.array([(number >> bit) & 1 for bit in range(BITS)], dtype=np.uint8).reshape(ROWS, COLUMNS)
        rows, columns = np.arange(height) * ROWS // height, np.arange(width) * COLUMNS // width
        cells = bits[rows][:, columns] * np.uint8(255)  # (H, W)
        frames.append(np.repeat(cells[:, :, None], 3, axis=2))
    return frames


def frame_number(image: np.ndarray) -> int:
    """The number :func:`numbered_frames` drew into ``image`` (at any scale)."""
    gray = image.astype(np.float32).mean(axis=2)  # (H, W)
    height, width = gray.shape
    number = 0
    for bit in range(BITS):
        row, column = divmod(bit, COLUMNS)
        top, left = row * height // ROWS, column * width // COLUMNS
        bottom, right = (row + 1) * height // ROWS, (column + 1) * width // COLUMNS
        # Read the middle of the cell, away from edges that compression and scaling blur.
        cell = gray[
            top + (bottom - top) // 4 : bottom - (bottom - top) // 4,
            left + (right - left) // 4 : right - (right - left) // 4,
        ]
        number |= int(cell.mean() > 127) << bit
    return number


def numbered_clip(path: str | Path, count: int, fps: float | Fraction = 30, **options) -> Path:
    """A clip of ``count`` numbered frames (see :func:`numbered_frames`)."""
    return write_clip(path, numbered_frames(count), fps, **options)


def scene(size: tuple[int, int] = (96, 64), seed: int = 0) -> np.ndarray:
    """A fixed textured background: smooth gradients, like a real room rather than a flat wall."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([80 + 60 * np.sin(x / 9 + seed), 100 + 50 * np.cos(y / 7), 90 + 40 * np.sin((x + y) / 13)], axis=2)
    return image.clip(0, 255).astype(np.uint8)


def static_frames(count: int, size: tuple[int, int] = (96, 64), noise: float = 2.0) -> list[np.ndarray]:
    """The same scene ``count`` times, with a little sensor noise (``noise`` grey levels)."""
    rng = np.random.default_rng(0)
    background = scene(size).astype(np.float32)
    return [(background + rng.normal(0, noise, background.shape)).clip(0, 255).astype(np.uint8) for _ in range(count)]


def static_clip(path: str | Path, seconds: float = 2.0, fps: float = 10, **options) -> Path:
    """A camera looking at a scene in which nothing moves."""
    return write_clip(path, static_frames(round(seconds * fps)), fps, **options)


def object_enters_frames(count: int, size: tuple[int, int] = (96, 64), side: int = 20) -> list[np.ndarray]:
    """The static scene; from the second frame on, a dark square slides in from the left and crosses it."""
    width, height = size
    background = scene(size)
    frames = []
    for i in range(count):
        image = background.copy()
        if i > 0:
            right = round(i * (width + side) / max(1, count - 1))  # the square's right edge, entering at 0
            image[height // 2 - side // 2 : height // 2 + side // 2, max(0, right - side) : max(0, right)] = 10
        frames.append(image)
    return frames


def object_enters_clip(path: str | Path, seconds: float = 2.0, fps: float = 10, **options) -> Path:
    """A camera looking at the static scene while an object enters and crosses it."""
    return write_clip(path, object_enters_frames(round(seconds * fps)), fps, **options)


def moving_square_frames(count: int, size: tuple[int, int] = (96, 64), side: int = 16) -> list[np.ndarray]:
    """A white square moving left to right over black, a different position in every frame."""
    width, height = size
    frames = []
    for i in range(count):
        image = np.zeros((height, width, 3), dtype=np.uint8)
        left = round(i * (width - side) / max(1, count - 1))
        image[(height - side) // 2 : (height + side) // 2, left : left + side] = 255
        frames.append(image)
    return frames


def audio_only_file(path: str | Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    """An audio file with no video stream (a sine tone)."""
    import av

    path = Path(path)
    samples = (np.sin(np.arange(round(seconds * rate)) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le" if path.suffix == ".wav" else "aac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cut(source: str | Path, destination: str | Path, fraction: float = 0.5) -> Path:
    """A copy of the first ``fraction`` of ``source``'s bytes: a download or copy that stopped early."""
    data = Path(source).read_bytes()
    destination = Path(destination)
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


def damage(source: str | Path, destination: str | Path, start: int, end: int, seed: int = 0) -> Path:
    """A copy of ``source`` with bytes ``start:end`` replaced by noise."""
    data = bytearray(Path(source).read_bytes())
    data[start:end] = np.random.default_rng(seed).bytes(end - start)
    destination = Path(destination)
    destination.write_bytes(bytes(data))
    return destination


def mp4_payload(path: str | Path) -> tuple[int, int]:
    """``(start, end)`` byte offsets of an MP4's ``mdat`` payload (the coded frames), for :func:`damage`."""
    data = Path(path).read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size, kind = int.from_bytes(data[offset : offset + 4], "big"), data[offset + 4 : offset + 8]
        if kind == b"mdat":
            return offset + 8, offset + size
        offset += size
    raise ValueError(f"{path} has no mdat box")


def rotate_mp4(source: str | Path, destination: str | Path) -> Path:
    """A copy of an MP4 whose track is marked to be shown turned 90 degrees clockwise, as a phone records portrait video."""
    data = bytearray(Path(source).read_bytes())
    identity = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    clockwise = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    at = data.find(identity, data.find(b"tkhd"))  # the track header's display matrix
    data[at : at + len(identity)] = clockwise
    destination = Path(destination)
    destination.write_bytes(bytes(data))
    return destination


def declared_png(width: int, height: int) -> bytes:
    """A real, valid PNG of ``width`` x ``height`` black pixels (1 bit each) that is a few KB on disk: what a
    decompression bomb looks like. Written a row at a time, never holding the bitmap."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the bits
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
