"""Frames as a server takes them: JPEG data URLs, an MP4 of a clip, and stable ids for what was sent before.

Frames arrive here already sampled, deduplicated and gated (trio_core did that locally), at the size
they were sampled at: nothing is resized, so the server sees what a local model would have seen,
less what JPEG loses.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import weakref
from collections import OrderedDict

import numpy as np

from trio_core.frames import Frame, jpeg_bytes


def frame_id(frame: Frame) -> str:
    """A stable id of a frame's pixels: the same picture gets the same id on every machine, whatever its encoding,
    so a server that cached it by id can be sent the id alone."""
    image = np.ascontiguousarray(frame.image)
    digest = hashlib.blake2b(f"{image.shape}".encode(), digest_size=16)
    digest.update(image.data)
    return "trio-" + digest.hexdigest()


def clip_id(frame_ids: list[str], fps: float) -> str:
    """A clip's id, from its frames' ids and its rate."""
    return "trio-" + hashlib.blake2b(f"{','.join(frame_ids)}@{fps:g}".encode(), digest_size=16).hexdigest()


def data_url(payload: bytes, kind: str) -> str:
    return f"data:{kind};base64," + base64.b64encode(payload).decode()


def mp4_bytes(frames: tuple[Frame, ...], fps: float) -> bytes:
    """The frames as an H.264 MP4 at ``fps`` (one frame per sample, nothing dropped or repeated), near-lossless
    (CRF 18): what vLLM, SGLang and trio read from a ``video_url``."""
    from fractions import Fraction

    import av

    height, width = frames[0].height, frames[0].width
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        # Even sides, for any decoder: a frame is cropped by at most one pixel each way.
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv444p"  # every pixel its colour (as the JPEGs): thin coloured edges survive
        stream.options = {"crf": "18", "preset": "veryfast"}
        for number, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.image[: stream.height, : stream.width]))
            picture.pts = number  # in the stream's time base, 1 / fps: frame n at n / fps seconds
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


class EncodedMedia:
    """Encodings made so far, by media id (a watch's conditions share one frame, a sliding window its frames):
    each picture is encoded once, however many requests send it."""

    def __init__(self, quality: int, keep: int = 128):
        self.quality, self.keep = quality, keep
        self._done: OrderedDict[str, str] = OrderedDict()
        # Each frame's id, while the frame lives: its pixels are hashed once, not once per request that sends it.
        self._ids: weakref.WeakKeyDictionary[Frame, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def frame_id(self, frame: Frame) -> str:
        with self._lock:
            known = self._ids.get(frame)
        if known is None:
            known = frame_id(frame)
            with self._lock:
                self._ids[frame] = known
        return known

    def image(self, frame: Frame) -> tuple[str, str]:
        """``(id, JPEG data URL)`` of one frame."""
        key = self.frame_id(frame)
        return key, self._cached(
            key, lambda: data_url(jpeg_bytes(frame.image, self.quality, full_colour=True), "image/jpeg")
        )

    def video(self, frames: tuple[Frame, ...], fps: float) -> tuple[str, str]:
        """``(id, MP4 data URL)`` of a clip; the id differs from the same clip's as a list of frames, which a
        server reads otherwise (an MP4 it samples again)."""
        key = clip_id([self.frame_id(frame) for frame in frames], fps) + "-mp4"
        return key, self._cached(key, lambda: data_url(mp4_bytes(frames, fps), "video/mp4"))

    def _cached(self, key: str, make) -> str:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
        made = make()
        with self._lock:
            self._done[key] = made
            while len(self._done) > self.keep:
                self._done.popitem(last=False)
        return made
