"""Frames already in memory: numpy arrays and PIL images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MediaError
from ..frames import Frame, SamplingPlan, fit_within
from ..sampling import sample_indices
from .base import FrameSource
from .files import fit_image

if TYPE_CHECKING:
    from ..config import EngineConfig


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
                array = fit_image(image, plan.max_side)
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
    if not isinstance(target, (list, tuple)):  # one PIL image
        return [(target, "the image")]
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

    return fit_image(Image.fromarray(array), max_side)
