"""The questions a training scene is asked, as the chat messages trio's pipeline hands a model family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trio_core.chat import ImagePart, Message, TextPart, VideoPart
from trio_core.frames import Frame
from trio_model_tiny.questions import Sample, follow_ups

IMAGE_FOLLOW_UPS = 3
CLIP_FOLLOW_UPS = 2


@dataclass
class Turn:
    """One question and its answer; ``meta`` as in Sample.meta (``target`` names the object asked about)."""

    task: str
    question: str
    answer: str
    meta: dict


def media_part(sample: Sample) -> ImagePart | VideoPart:
    """The sample's image or clip as trio's pipeline hands it to a model family."""
    if sample.kind == "image":
        return ImagePart(Frame(sample.media, 0.0, 0))
    frames = tuple(Frame(image, index / sample.fps, index) for index, image in enumerate(sample.media))
    return VideoPart(frames, sample.fps)


def conversation(sample: Sample, turn: Turn) -> list[Message]:
    """The media and the question in one user message, as `trio analyze` asks, then the answer."""
    return [
        Message("user", [media_part(sample), TextPart(turn.question)]),
        Message("assistant", [TextPart(turn.answer)]),
    ]


def draw_turns(sample: Sample, rng: np.random.Generator, clip_presence: bool = False) -> list[Turn]:
    """The sample's own question and follow-ups about the same scene: one vision pass, several answers.

    With ``clip_presence`` a clip's follow-ups also ask "is there X?" (so `trio analyze
    clip.mp4 -q "Is there a red circle?"` gets a meaningful answer).
    """
    count = CLIP_FOLLOW_UPS if sample.kind == "video" else IMAGE_FOLLOW_UPS
    first = Turn(sample.task, sample.question, sample.answer, sample.meta)
    clip_tasks = ("appearance", "presence") if clip_presence else ("appearance",)
    return [first, *(Turn(*made) for made in follow_ups(sample, rng, count, clip_tasks))]
