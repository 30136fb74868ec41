"""Vision-token optimizers: what they are, where they act, and which combinations are allowed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import IntEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError, IncompatibleOptimizerError

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


class OptimizerSettings(BaseModel):
    """Base of an optimizer's settings: an optimizer subclasses it with its own fields and defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Optimizer(ABC):
    """A plugin that makes visual tokens cheaper.

    ``families`` and ``backends`` name what it supports; asking for it anywhere else is
    refused at load time with a clear sentence, never silently skipped. ``conflicts`` names
    optimizers it cannot run with (say, one that prunes by the question and one that caches
    the prompt for the next question). ``Settings`` is its pydantic settings model; users set
    fields with ``--opt NAME.FIELD=VALUE`` or ``TRIO_OPTIMIZER_SETTINGS`` (JSON).
    """

    name: str
    stage: Stage
    families: frozenset[str] = frozenset()
    backends: frozenset[str] = frozenset()
    conflicts: frozenset[str] = frozenset()
    summary: str = ""
    Settings: type[OptimizerSettings] = OptimizerSettings

    def settings(self, config: EngineConfig) -> OptimizerSettings:
        """This optimizer's settings from ``config``, checked; a bad one is a ConfigError naming it."""
        given = config.optimizer_settings.get(self.name, {})
        try:
            return self.Settings(**given)
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"]) or self.name
            known = ", ".join(self.Settings.model_fields) or "none"
            raise ConfigError(
                f"--opt {self.name}.{field}: {problem['msg']} (settings of '{self.name}': {known})."
            ) from None

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
            "conflicts": sorted(self.conflicts),
            "settings": {name: field.default for name, field in self.Settings.model_fields.items()},
            "summary": self.summary,
        }


def plan_optimizers(config: EngineConfig, family: str, backend: str, registry: Registry) -> list[Optimizer]:
    """The optimizers ``config`` asks for, ordered by stage, after checking that each fits the
    model, that no two conflict, and that every setting given names an installed optimizer and
    has a value it accepts."""
    for name in config.optimizer_settings:
        registry.find("optimizer", name)  # settings for an optimizer that is not installed: say so
    chosen = []
    for name in dict.fromkeys(config.optimizers):
        optimizer = registry.find("optimizer", name)
        reason = optimizer.incompatibility(family, backend)
        if reason:
            raise IncompatibleOptimizerError(
                f"The optimizer '{name}' does not support {reason}; drop it from --optimizers."
            )
        optimizer.settings(config)
        chosen.append(optimizer)
    for optimizer in chosen:
        clash = sorted(other.name for other in chosen if other.name in optimizer.conflicts)
        if clash:
            raise IncompatibleOptimizerError(
                f"The optimizer '{optimizer.name}' cannot run together with '{clash[0]}'; choose one of them."
            )
    return sorted(chosen, key=lambda optimizer: optimizer.stage)
