"""Local files: images read with Pillow, videos decoded with PyAV."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np

from ..errors import MediaError
from ..frames import Frame, SamplingPlan, decode_within, fit_within, open_picture
from .base import FrameSource
from .unreadable import check_file, unreadable_message
from .video import VideoFrames

if TYPE_CHECKING:
    from ..config import EngineConfig

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def _read_image(path: Path, plan: SamplingPlan, label: str) -> Frame | None:
    """The image at ``path`` as one frame, or ``None`` when it is animated (then it is read as a video)."""
    from PIL import UnidentifiedImageError

    try:
        with open_picture(path, f"'{label}'") as image:
            if getattr(image, "is_animated", False):  # read as a video
                return None
            decode_within(image, f"'{label}'", plan.max_pixels)
            return Frame(image=fit_image(image, plan.max_side), timestamp=0.0, index=0)
    except UnidentifiedImageError:
        raise MediaError(unreadable_message(path, label)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports truncated and damaged data this way
        raise MediaError(f"'{label}' is a damaged or truncated image ({exc}): download or export it again.") from None


def fit_image(image, max_side: int | None) -> np.ndarray:
    """A PIL image as ``(height, width, 3)`` uint8 RGB, scaled down to fit ``max_side``."""
    from PIL import Image

    if image.mode != "RGB":
        image = image.convert("RGB")
    size = fit_within(image.width, image.height, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.array(image, dtype=np.uint8)  # a writable copy: torch warns about read-only arrays


def _path_of(target: str | os.PathLike) -> Path:
    """A local path from a plain path or a ``file://`` URL."""
    if isinstance(target, str) and target.lower().startswith("file:"):
        parts = urlsplit(target)
        if parts.netloc and parts.netloc != "localhost":
            return Path(url2pathname(f"//{parts.netloc}{parts.path}"))
        return Path(url2pathname(parts.path))
    return Path(target)


def open_media_file(path: str | os.PathLike, plan: SamplingPlan, label: str | None = None) -> Iterable[Frame]:
    """The sampled frames of a local image or video file; ``label`` names it in errors (default: the path).

    An image gives a one-frame list; a video gives a :class:`VideoFrames`.
    """
    path = Path(path)
    label = label or str(path)
    check_file(path, label)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        frame = _read_image(path, plan, label)
        if frame is not None:
            return [frame]
    return VideoFrames(path, plan, label=label)


class FileSource(FrameSource):
    """Local video and image files: plain paths (``clip.mp4``, ``C:\\clips\\a.mkv``) and ``file://`` URLs.

    Images (jpg, png, webp, bmp, gif, tiff) are read with Pillow as one frame; anything else
    is decoded with PyAV (FFmpeg), sampled by seeking (see :class:`VideoFrames`).
    """

    name = "file"
    schemes = ("file",)

    def open(self, target, plan: SamplingPlan, config: EngineConfig | None = None) -> Iterable[Frame]:
        path = _path_of(target)
        label = target if isinstance(target, str) else str(path)
        return open_media_file(path, plan, label=label)
