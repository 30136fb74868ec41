"""Frame filters: drop sampled frames the model does not need to see, before it sees them.

Both built-in filters compare a frame with the last frame they *kept*, on a 64x64 grayscale
thumbnail with values in 0..1, so slow drift still adds up to a kept frame and the first
frame is always kept. Their thresholds come from :class:`~trio_core.config.EngineConfig`
(``dedup_threshold``; ``motion_gate``, ``motion_pixel_threshold``, ``motion_min_area``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from .frames import Frame
from .hookspecs import hookimpl

THUMBNAIL_SIDE = 64


def thumbnail(frame: Frame) -> np.ndarray:
    """The frame as a ``(64, 64)`` float32 grayscale image with values in 0..1 (aspect ratio not kept)."""
    from PIL import Image

    gray = Image.fromarray(frame.image).convert("L")
    small = gray.resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0  # (64, 64)


class FrameFilter(ABC):
    """A stateful test applied to frames in time order: :meth:`keep` says whether each one goes on to the model.

    Register a factory from a plugin; it gets the config and returns a fresh filter, or
    ``None`` when the config turns the filter off::

        @hookimpl
        def register_frame_filters(register):
            register("blur", lambda config: BlurFilter() if config.blur_filter else None)
    """

    name: str

    @abstractmethod
    def keep(self, frame: Frame) -> bool:
        """Whether ``frame``, the next one of the stream, is kept; called once per frame, in order."""

    def reset(self) -> None:  # noqa: B027 - optional: a stateless filter has nothing to forget
        """Forget earlier frames, to start on a new stream."""

    def apply(self, frames: Iterable[Frame]) -> list[Frame]:
        """The kept frames of a whole stream (the filter is reset first)."""
        self.reset()
        return [frame for frame in frames if self.keep(frame)]


class TemporalDedup(FrameFilter):
    """Drops near-duplicate frames: a still camera, a paused video, a slide that stays up.

    A frame is dropped when the mean absolute difference between its thumbnail and the last
    kept frame's is below ``threshold`` (on 0..1 grayscale; the default from config is 0.01,
    i.e. pixels differ by 1% of full brightness on average). ``0`` keeps everything.
    """

    name = "dedup"

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def keep(self, frame: Frame) -> bool:
        thumb = thumbnail(frame)
        if self._last is not None and float(np.abs(thumb - self._last).mean()) < self.threshold:
            return False
        self._last = thumb
        return True


class MotionGate(FrameFilter):
    """Keeps only frames in which something moved since the last kept frame; a static scene yields one frame.

    A thumbnail pixel has *moved* when its grayscale value changed by more than
    ``pixel_threshold`` (0..1; config default 0.1, above compression noise and small lighting
    flicker). A frame is kept when at least ``min_area`` of the pixels moved (a fraction;
    config default 0.005, about 20 of the 4096 thumbnail pixels, so a small object entering
    the scene counts). The first frame is always kept.
    """

    name = "motion_gate"

    def __init__(self, pixel_threshold: float, min_area: float):
        self.pixel_threshold = pixel_threshold
        self.min_area = min_area
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def keep(self, frame: Frame) -> bool:
        thumb = thumbnail(frame)
        if self._last is not None:
            moved = np.abs(thumb - self._last) > self.pixel_threshold  # (64, 64) bool
            if float(moved.mean()) < self.min_area:
                return False
        self._last = thumb
        return True


@hookimpl
def register_frame_filters(register):
    register("dedup", lambda config: TemporalDedup(config.dedup_threshold) if config.dedup_threshold > 0 else None)
    register(
        "motion_gate",
        lambda config: (
            MotionGate(config.motion_pixel_threshold, config.motion_min_area) if config.motion_gate else None
        ),
    )
