"""Vision-token optimizers: what they are, where they act, and which combinations are allowed."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from .config import checked_settings
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


class OptimizerSettings(BaseModel):
    """Base of an optimizer's settings: an optimizer subclasses it with its own fields and defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Optimizer:
    """A plugin that makes visual tokens cheaper: a descriptor that imports no framework.

    ``implementations`` names, per backend, where the code that installs it into a loaded
    model of that backend lives: ``"module"`` (its ``apply`` function) or
    ``"module:function"``, called as ``function(model, settings)``. The core imports it only
    when a model of that backend loads with this optimizer, so the framework code sits in a
    subpackage named for the backend (``trio_opt_tome/torch/``) behind an extra of the same
    name (``trio-opt-tome[torch]``). The backends it supports are that table's keys.

    ``families`` names the model families it supports; asking for it anywhere else is refused
    at load time with a clear sentence, never silently skipped. ``conflicts`` names optimizers
    it cannot run with. ``Settings`` is its pydantic settings model; users set fields with
    ``--opt NAME.FIELD=VALUE`` or ``TRIO_OPTIMIZER_SETTINGS`` (JSON).
    """

    name: str
    stage: Stage
    families: frozenset[str] = frozenset()
    implementations: Mapping[str, str] = MappingProxyType({})
    conflicts: frozenset[str] = frozenset()
    summary: str = ""
    Settings: type[OptimizerSettings] = OptimizerSettings

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "backends" in cls.__dict__:  # a list kept by hand beside the table would drift from it
            raise TypeError(
                f"{cls.__name__} sets `backends`: give `implementations = {{backend: 'module'}}` instead; "
                "the backends an optimizer supports are that table's keys."
            )

    @property
    def backends(self) -> frozenset[str]:
        """The backends it has an implementation for."""
        return frozenset(self.implementations)

    def settings(self, config: EngineConfig) -> OptimizerSettings:
        """This optimizer's settings from ``config``, checked; a bad one is a ConfigError naming it."""
        given = config.optimizer_settings.get(self.name, {})
        return checked_settings(self.Settings, given, flag="--opt", name=self.name)

    def incompatibility(self, family: str, backend: str) -> str | None:
        """Why this optimizer cannot run on ``family`` with ``backend`` (a backend it has an implementation
        for), or None when it can; override it for finer rules."""
        if family not in self.families:
            return f"the {family} model family (it supports: {', '.join(sorted(self.families)) or 'none'})"
        return None

    def conflicts_on(self, backend: str) -> frozenset[str]:
        """The optimizers it cannot run with on ``backend``: ``conflicts``; override it where one backend's
        implementation cannot take another optimizer yet."""
        return self.conflicts

    def implementation(self, backend: str, distribution: str | None = None) -> Callable[..., None]:
        """The function that installs this optimizer into a model of ``backend``, imported now.

        A library its implementation needs that is not installed is one sentence naming the
        extra to install (``distribution`` is the optimizer's, when trio knows it).
        """
        target = self.implementations.get(backend)
        if target is None:
            raise IncompatibleOptimizerError(elsewhere_message(self, backend, distribution))
        module_name, _, function = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            own = module_name.split(".")[0]
            if error.name is None or error.name.split(".")[0] == own:
                raise  # the implementation itself is broken, not a missing library
            extra = (
                f"{distribution}[{backend}]" if distribution else f"the {backend} extra of the plugin that provides it"
            )
            raise IncompatibleOptimizerError(
                f"The optimizer '{self.name}' needs '{error.name}' on the {backend} backend, which is not installed: "
                f"run `pip install '{extra}'`."
            ) from None
        return getattr(module, function or "apply")

    def apply(self, model: LoadedModel, config: EngineConfig) -> None:
        """Install the optimization into a freshly loaded model, with its implementation for the model's backend."""
        self.implementation(model.backend)(model, self.settings(config))

    def describe(self) -> dict:
        return {
            "stage": self.stage.name.lower(),
            "families": sorted(self.families),
            "backends": sorted(self.backends),
            "conflicts": sorted(self.conflicts),
            "settings": {name: field.default for name, field in self.Settings.model_fields.items()},
            "summary": self.summary,
        }


def backend_extras(optimizer: Optimizer, distribution: str | None) -> dict[str, dict]:
    """For ``trio plugins``: per backend, the extra that installs the optimizer's implementation there
    (``{"torch": "trio-opt-tome[torch]"}``), and whether that extra is installed (``{"torch": True}``).

    Read from the distribution's metadata, importing nothing: listing plugins must stay light.
    """
    backends = sorted(optimizer.backends)
    if distribution is None:  # registered at run time: nothing to install
        return {"extras": {}, "ready": {}}
    return {
        "extras": {backend: f"{distribution}[{backend}]" for backend in backends},
        "ready": {backend: extra_installed(distribution, backend) for backend in backends},
    }


def extra_installed(distribution: str, extra: str) -> bool:
    """Whether every requirement of ``distribution[extra]`` is installed (versions not checked)."""
    from packaging.requirements import Requirement

    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return False
    for line in requires:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or not marker.evaluate({"extra": extra}) or marker.evaluate({"extra": ""}):
            continue  # a base requirement, or another extra's
        try:
            importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


def elsewhere_message(optimizer: Optimizer, backend: str, distribution: str | None) -> str:
    """One sentence for an optimizer asked for on a backend it has no implementation for: where it does run."""
    others = sorted(optimizer.backends)
    if not others:
        return f"The optimizer '{optimizer.name}' has no implementation for any backend; drop it from --optimizers."
    run = f"--backend {others[0]}"
    if distribution:
        run += f" (after `pip install '{distribution}[{others[0]}]'`)"
    return (
        f"The optimizer '{optimizer.name}' has no implementation for the {backend} backend, only for "
        f"{', '.join(others)}: run it with {run}, or drop it from --optimizers."
    )


@dataclass(frozen=True)
class Planned:
    """An optimizer chosen for a model about to load: its checked settings and its implementation, imported."""

    optimizer: Optimizer
    settings: OptimizerSettings
    install: Callable[..., None]

    def apply(self, model: LoadedModel) -> None:
        self.install(model, self.settings)


def plan_optimizers(config: EngineConfig, family: str, backend: str, registry: Registry) -> list[Planned]:
    """The optimizers ``config`` asks for, ordered by stage, checked before the model loads.

    Each must be installed, fit the family and the backend, have valid settings, not conflict
    with another, and have its implementation for the backend importable (its extra
    installed); every setting given must name an installed optimizer.
    """
    for name in config.optimizer_settings:
        registry.find("optimizer", name)  # settings for an optimizer that is not installed: say so
    chosen: list[tuple[Optimizer, str | None]] = []
    for name in dict.fromkeys(config.optimizers):
        item = registry.item("optimizer", name)
        optimizer = item.obj
        if backend not in optimizer.backends:  # said before the family: the fix is another backend
            raise IncompatibleOptimizerError(elsewhere_message(optimizer, backend, item.distribution))
        reason = optimizer.incompatibility(family, backend)
        if reason:
            raise IncompatibleOptimizerError(
                f"The optimizer '{name}' does not support {reason}; drop it from --optimizers."
            )
        chosen.append((optimizer, item.distribution))
    for optimizer, _ in chosen:
        clash = sorted(other.name for other, _ in chosen if other.name in optimizer.conflicts_on(backend))
        if clash:
            where = "" if clash[0] in optimizer.conflicts else f" on the {backend} backend yet"
            raise IncompatibleOptimizerError(
                f"The optimizer '{optimizer.name}' cannot run together with '{clash[0]}'{where}; choose one of them."
            )
    planned = [
        Planned(optimizer, optimizer.settings(config), optimizer.implementation(backend, distribution))
        for optimizer, distribution in chosen
    ]
    return sorted(planned, key=lambda plan: plan.optimizer.stage)
