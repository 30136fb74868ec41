"""Vision-token optimizers: what they are, where they act, and which combinations are allowed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import IntEnum
from typing import TYPE_CHECKING

from .errors import IncompatibleOptimizerError

if TYPE_CHECKING:
    from .backends import LoadedModel
    from .config import EngineConfig
    from .plugins import Registry


class Stage(IntEnum):
    """Where in the data path an optimizer acts; the core applies them in this order."""

    VISION_ENCODER = 1  # inside the vision encoder (e.g. token merging)
    AFTER_ENCODER = 2  # on the visual tokens between the encoder and the LLM
    LLM_PREFILL = 3  # inside the LLM's prefill (e.g. pruning by attention)
    KV_CACHE = 4  # across requests, in the KV cache (e.g. prefix reuse)


class Optimizer(ABC):
    """A plugin that makes visual tokens cheaper.

    ``families`` and ``backends`` name what it supports; asking for it anywhere else is
    refused at load time with a clear sentence, never silently skipped.
    """

    name: str
    stage: Stage
    families: frozenset[str] = frozenset()
    backends: frozenset[str] = frozenset()
    summary: str = ""

    def incompatibility(self, family: str, backend: str) -> str | None:
        """Why this optimizer cannot run on ``family`` with ``backend``, or None when it can."""
        if backend not in self.backends:
            return f"the {backend} backend (it supports: {', '.join(sorted(self.backends)) or 'none'})"
        if family not in self.families:
            return f"the {family} model family (it supports: {', '.join(sorted(self.families)) or 'none'})"
        return None

    @abstractmethod
    def apply(self, model: LoadedModel, config: EngineConfig) -> None:
        """Install the optimization into a freshly loaded model."""

    def describe(self) -> dict:
        return {
            "stage": self.stage.name.lower(),
            "families": sorted(self.families),
            "backends": sorted(self.backends),
            "summary": self.summary,
        }


def plan_optimizers(names: list[str], family: str, backend: str, registry: Registry) -> list[Optimizer]:
    """The optimizers called ``names``, ordered by stage, after checking each fits the model."""
    chosen = []
    for name in dict.fromkeys(names):
        optimizer = registry.find("optimizer", name)
        reason = optimizer.incompatibility(family, backend)
        if reason:
            raise IncompatibleOptimizerError(
                f"The optimizer '{name}' does not support {reason}; drop it from --optimizers."
            )
        chosen.append(optimizer)
    return sorted(chosen, key=lambda optimizer: optimizer.stage)
