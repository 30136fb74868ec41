"""A conversation as a Hugging Face processor's chat template takes it, for every backend that uses one
(transformers' processors on torch, mlx-vlm's ports of them on MLX): the chat in the template's format,
the media it references in order, and the sampled frames' true times."""

from __future__ import annotations

from typing import Any

from .chat import ImagePart, Message, TextPart, VideoPart

__all__ = ["media_frames", "media_of", "to_chat", "video_metadata"]


def to_chat(messages: list[Message], *, video: bool) -> tuple[list, list, list, list]:
    """``(chat, images, videos, metadata)``: the messages in the chat-template format, with the images and the
    videos (lists of frames) they reference collected in order, and each video's :func:`video_metadata`.

    Without native ``video``, a video's frames become images, each labelled with its time.
    """
    chat, images, videos, metadata = [], [], [], []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image"})
                images.append(part.frame.image)
            elif isinstance(part, VideoPart) and video:
                content.append({"type": "video"})
                videos.append([frame.image for frame in part.frames])
                metadata.append(video_metadata(part))
            elif isinstance(part, VideoPart):
                for frame in part.frames:
                    content.append({"type": "text", "text": f"Frame at {frame.timestamp:.1f}s:"})
                    content.append({"type": "image"})
                    images.append(frame.image)
        chat.append({"role": message.role, "content": content})
    return chat, images, videos, metadata


def media_of(messages: list[Message]) -> tuple:
    """The frames a conversation shows, in order (compared by identity: the same frame objects are the same media)."""
    frames = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                frames.append(("image", id(part.frame)))
            elif isinstance(part, VideoPart):
                frames.append(("video", tuple(id(frame) for frame in part.frames)))
    return tuple(frames)


def video_metadata(part: VideoPart) -> dict:
    """Describe sampled frames so the processor knows their true times (mRoPE time ids, timestamps).

    transformers reads a frame's time as ``frames_indices[i] / fps``: expressing the sample
    times on a grid of the effective sampling rate keeps both the rate and the times right.
    """
    times = [frame.timestamp for frame in part.frames]
    span = times[-1] - times[0]
    fps = (len(times) - 1) / span if len(times) > 1 and span > 0 else part.fps
    indices = [round(t * fps) for t in times]
    height, width = part.frames[0].image.shape[:2]
    return {
        "total_num_frames": indices[-1] + 1,
        "fps": fps,
        "frames_indices": indices,
        "duration": (indices[-1] + 1) / fps,
        "width": width,
        "height": height,
    }


def media_frames(messages: list[Message]) -> tuple:
    """Every frame the conversation shows, in prompt order (what a prompt cache compares)."""
    return tuple(
        frame
        for message in messages
        for part in message.parts
        for frame in ((part.frame,) if isinstance(part, ImagePart) else getattr(part, "frames", ()))
    )
