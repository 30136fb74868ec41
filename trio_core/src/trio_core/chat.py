"""A conversation as the core hands it to a model family: roles and typed content parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .frames import Frame


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    frame: Frame


@dataclass(frozen=True)
class VideoPart:
    """Sampled frames of one video, in time order; ``fps`` is the rate they were sampled at."""

    frames: tuple[Frame, ...]
    fps: float


Part = TextPart | ImagePart | VideoPart


@dataclass
class Message:
    role: Literal["system", "user", "assistant"]
    parts: list[Part] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.parts if isinstance(part, TextPart))


def question_about(media: Part | None, question: str) -> list[Message]:
    """The one-turn conversation of ``trio analyze``: the media first, then the question."""
    parts: list[Part] = [media] if media is not None else []
    parts.append(TextPart(question))
    return [Message("user", parts)]
