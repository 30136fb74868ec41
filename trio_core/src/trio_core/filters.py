"""Frame filters: drop sampled frames the model does not need to see, before it sees them.

A filter declares its settings as a pydantic model (:class:`FilterSettings`); users set them
with ``--filter NAME.SETTING=VALUE`` or ``TRIO_FILTER_SETTINGS`` (JSON), the same way for
the built-in filters and for a plugin's. The core checks them, builds a fresh filter for
every stream from them, and reports each filter's frames in and out in the metrics.

Both built-in filters compare a frame with the last frame they *kept*, on a 64x64 grayscale
thumbnail with values in 0..1, so slow drift still adds up to a kept frame and the first
frame is always kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .config import checked_settings
from .frames import Frame
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .config import EngineConfig
    from .plugins import Registry

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


class FilterSettings(BaseModel):
    """Base of a frame filter's settings: a filter subclasses it with its own fields and defaults.

    ``enabled`` turns the filter on or off (``--filter NAME.enabled=false``); a filter that is
    off unless asked for sets its default to ``False``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Whether the filter runs.")


class FrameFilter(ABC):
    """A stateful test applied to frames in time order: :meth:`keep` says whether each one goes on to the model.

    A plugin registers the class; the core builds a fresh filter for every stream from its
    checked ``Settings``, so construction should be cheap::

        class BlurFilter(FrameFilter):
            name = "blur"
            summary = "Drops motion-blurred frames."

            class Settings(FilterSettings):
                enabled: bool = False
                min_edges: float = Field(0.05, gt=0.0, description="Edge contrast a frame needs to be kept.")

            def keep(self, frame):
                return edge_contrast(frame) >= self.settings.min_edges

        @hookimpl
        def register_frame_filters(register):
            register(BlurFilter)

    ``trio analyze clip.mp4 -q ... --filter blur.enabled=true --filter blur.min_edges=0.1``
    then turns it on and sets its threshold.
    """

    name: str
    summary: str = ""
    Settings: type[FilterSettings] = FilterSettings

    def __init__(self, settings: FilterSettings | None = None):
        self.settings = self.Settings() if settings is None else settings

    @classmethod
    def settings_from(cls, config: EngineConfig) -> FilterSettings:
        """This filter's settings from ``config``, checked; a bad one is a ConfigError naming it."""
        given = config.filter_settings.get(cls.name, {})
        return checked_settings(cls.Settings, given, flag="--filter", name=cls.name)

    @classmethod
    def is_enabled(cls, settings: FilterSettings) -> bool:
        """Whether ``settings`` turn this filter on: ``enabled``, unless a filter says more."""
        return settings.enabled

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``trio plugins`` shows: each setting with its default, and the summary."""
        return {
            "settings": {name: field.default for name, field in cls.Settings.model_fields.items()},
            "summary": cls.summary,
        }

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
    default 0.03, i.e. 3% of full brightness). Judging the most changed block rather than
    the whole frame keeps a small object that moves in a large still scene, and a uniform change
    (a fade, a light switched on) counts the same in every block. ``0`` keeps everything, so
    it turns dedup off.
    """

    name = "dedup"
    summary = "Drops near-duplicate frames (on by default)."

    class Settings(FilterSettings):
        threshold: float = Field(
            0.03,
            ge=0.0,
            le=1.0,
            description="Drop a frame when even its most changed 1/64 of the picture differs from the last kept "
            "frame by less than this on average (grayscale, 0..1); 0 turns dedup off.",
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None):
        super().__init__(settings)
        self._last: np.ndarray | None = None

    @classmethod
    def is_enabled(cls, settings: Settings) -> bool:
        return settings.enabled and settings.threshold > 0

    def reset(self) -> None:
        self._last = None

    def keep(self, frame: Frame) -> bool:
        thumb = thumbnail(frame)
        if self._last is not None and largest_block_change(thumb, self._last) < self.settings.threshold:
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
    ``pixel_threshold`` (0..1; default 0.1, above compression noise and small lighting
    flicker). A frame is kept when at least ``min_area`` of the pixels moved (a fraction;
    default 0.005, about 20 of the 4096 thumbnail pixels, so a small object entering
    the scene counts). The first frame is always kept. Off unless ``enabled``.
    """

    name = "motion_gate"
    summary = "Keeps only frames in which something moved (off by default)."

    class Settings(FilterSettings):
        enabled: bool = Field(False, description="Whether the motion gate runs.")
        pixel_threshold: float = Field(
            0.1, gt=0.0, le=1.0, description="A pixel has moved when its grayscale value changes by more than this."
        )
        min_area: float = Field(
            0.005, gt=0.0, le=1.0, description="A frame has motion when at least this fraction of its pixels moved."
        )

    settings: Settings

    def __init__(self, settings: Settings | None = None):
        super().__init__(settings)
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def keep(self, frame: Frame) -> bool:
        thumb = thumbnail(frame)
        if self._last is not None:
            moved = np.abs(thumb - self._last) > self.settings.pixel_threshold  # (64, 64) bool
            if float(moved.mean()) < self.settings.min_area:
                return False
        self._last = thumb
        return True


def enabled_filters(config: EngineConfig, registry: Registry) -> list[FrameFilter]:
    """Fresh filters for one stream: those ``config`` turns on, in the order they run.

    Every installed filter's settings are checked, on or off, and settings for a filter that
    is not installed are refused, so a typo fails at once in one sentence.
    """
    for name in config.filter_settings:
        registry.find("frame filter", name)  # settings for a filter that is not installed: say so
    chosen = []
    for filter_class in registry.objects("frame filter"):
        settings = filter_class.settings_from(config)
        if filter_class.is_enabled(settings):
            chosen.append(filter_class(settings))
    return chosen


@hookimpl
def register_frame_filters(register):
    register(TemporalDedup)
    register(MotionGate)
