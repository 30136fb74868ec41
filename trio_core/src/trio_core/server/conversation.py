"""From a request's media references to the conversation the engine answers (runs in a worker thread)."""

from __future__ import annotations

import numpy as np

from ..chat import ImagePart, VideoPart
from ..frames import Frame
from ..sdk import TrioCore
from .errors import APIError
from .media import MediaResolver


def frames_evenly(frames: list, most: int) -> list:
    """At most ``most`` of ``frames``, spread evenly over them (the first and last kept)."""
    if len(frames) <= most:
        return frames
    picks = np.linspace(0, len(frames) - 1, most).round().astype(int)
    return [frames[i] for i in picks]


def image_part(engine: TrioCore, resolver: MediaResolver, reference: str, what: str) -> ImagePart:
    clip = engine.read_frame(resolver.image(reference, what=what))
    return ImagePart(clip.frames[0])


def video_part(engine: TrioCore, resolver: MediaResolver, reference: str, what: str) -> VideoPart | ImagePart:
    clip = engine.read_video(resolver.video(reference, what=what))
    if len(clip.frames) == 1:
        return ImagePart(clip.frames[0])
    return VideoPart(tuple(clip.frames), fps=clip.plan.fps)


def frames_part(engine: TrioCore, images: list, what: str, most: int, fps=None):
    """Several images (read: PIL images, arrays or paths) taken as the frames of one video, in order, sampled at
    ``fps`` (the client's, when it says; else the engine's rate)."""
    if not images:
        raise APIError(400, f"The {what} has no frames.")
    fps = fps or engine.config.fps
    frames = frames_of_images(engine, images, most, fps)
    return ImagePart(frames[0]) if len(frames) == 1 else VideoPart(tuple(frames), fps=fps)


def frames_of_images(engine: TrioCore, images: list, most: int, fps: float) -> list[Frame]:
    """At most ``most`` of ``images``, spread evenly, read (and scaled) as the frames of a video taken at ``fps``."""
    frames = []
    for index, image in enumerate(frames_evenly(images, most)):
        frame = engine.read_frame(image).frames[0]
        frames.append(Frame(image=frame.image, timestamp=index / fps, index=index))
    return frames
