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


def thumbnail(frame: Frame, colour: bool = False) -> np.ndarray:
    """The frame as a ``(64, 64)`` float32 grayscale image with values in 0..1 (aspect ratio not kept).

    With ``colour``, ``(64, 64, 3)`` RGB: a red object on a grey of the same brightness is
    invisible in grayscale.
    """
    from PIL import Image

    converted = Image.fromarray(frame.image).convert("RGB" if colour else "L")
    small = converted.resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0  # (64, 64) or (64, 64, 3)


class FrameFilter(ABC):
    """A stateful test applied to frames in time order: :meth:`keep` says whether each one goes on to the model.

    Register a factory from a plugin; it gets the :class:`~trio_core.config.EngineConfig` and
    returns a fresh filter, or ``None`` to stay off (a plugin reads its own settings, e.g. from
    its own environment variables)::

        @hookimpl
        def register_frame_filters(register):
            register("blur", lambda config: BlurFilter() if os.environ.get("TRIO_BLUR_FILTER") else None)
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

    The thumbnails of the frame and of the last kept frame are compared block by block (8x8
    blocks of 8x8 thumbnail pixels, each about 1/64 of the picture): the frame is dropped when
    even the most changed block differs by less than ``threshold`` on average (0..1 grayscale;
    config default 0.03, i.e. 3% of full brightness). Judging the most changed block rather than
    the whole frame keeps a small object that moves in a large still scene, and a uniform change
    (a fade, a light switched on) counts the same in every block. ``0`` keeps everything.
    """

    name = "dedup"

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def keep(self, frame: Frame) -> bool:
        thumb = thumbnail(frame)
        if self._last is not None and largest_block_change(thumb, self._last) < self.threshold:
            return False
        self._last = thumb
        return True


BLOCK_SIDE = 8


def largest_block_change(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean absolute difference of two thumbnails over their 8x8-pixel blocks (and colour channels)."""
    blocks = THUMBNAIL_SIDE // BLOCK_SIDE
    difference = np.abs(a - b)
    if difference.ndim == 3:
        difference = difference.mean(axis=-1)
    change = difference.reshape(blocks, BLOCK_SIDE, blocks, BLOCK_SIDE).mean(axis=(1, 3))  # (8, 8)
    return float(change.max())


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
