"""Frame sources: where sampled frames come from (files, URLs, arrays, camera streams, webcams).

A source says which targets it can open (by URI scheme, or by looking at the object) and
turns one into timestamped RGB :class:`~trio_core.frames.Frame` objects, sampled and scaled
as a :class:`~trio_core.frames.SamplingPlan` says. :func:`read_frames` picks the source.

Videos are sampled by seeking, not by decoding everything: see :class:`VideoFrames`.
Every way a file can be unreadable becomes one :class:`~trio_core.errors.MediaError`
sentence that names the file and says what to do.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .arrays import ArraySource
from .base import FrameSource, find_source, read_frames, uri_scheme
from .files import IMAGE_EXTENSIONS, FileSource, open_media_file
from .http import HttpSource, download
from .live import LiveFrames, LiveSettings
from .stream import StreamSource
from .video import VideoFrames, VideoInfo
from .webcam import WebcamSource, list_webcams


@hookimpl
def register_frame_sources(register):
    register(FileSource())
    register(StreamSource())  # before http: it takes the http URLs that are live streams
    register(HttpSource())
    register(WebcamSource())
    register(ArraySource())


__all__ = [
    "IMAGE_EXTENSIONS",
    "ArraySource",
    "FileSource",
    "FrameSource",
    "HttpSource",
    "LiveFrames",
    "LiveSettings",
    "StreamSource",
    "VideoFrames",
    "VideoInfo",
    "WebcamSource",
    "download",
    "find_source",
    "list_webcams",
    "open_media_file",
    "read_frames",
    "uri_scheme",
]
