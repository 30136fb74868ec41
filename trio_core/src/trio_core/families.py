"""Model families: which checkpoints a backend can run, and what they can do."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

ANY_MODEL_TYPE = "*"


@dataclass(frozen=True)
class ModelFamily:
    """A family of checkpoints one backend knows how to run.

    ``model_types`` are the ``model_type`` values of ``config.json`` it matches; ``("*",)``
    makes it a fallback for any checkpoint the backend can load. ``video`` says whether the
    model takes video natively (otherwise sampled frames are given as images). Backends
    subclass this to add the code that builds model inputs.
    """

    name: str
    _: KW_ONLY
    backend: str
    model_types: tuple[str, ...]
    video: bool = False
    image: bool = True

    def matches(self, model_type: str) -> bool:
        return model_type in self.model_types

    @property
    def is_fallback(self) -> bool:
        return ANY_MODEL_TYPE in self.model_types

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            "model_types": list(self.model_types),
            "video": self.video,
            "image": self.image,
        }


def select_family(model_type: str, backend: str, families: list[ModelFamily]) -> ModelFamily | None:
    """The family of ``backend`` that matches ``model_type`` exactly, else its fallback, else None."""
    own = [family for family in families if family.backend == backend]
    for family in own:
        if family.matches(model_type):
            return family
    for family in own:
        if family.is_fallback:
            return family
    return None
