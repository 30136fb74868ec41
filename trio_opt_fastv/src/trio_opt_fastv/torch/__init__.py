"""FastV on the torch backend (``pip install 'trio-opt-fastv[torch]'``): pruning after a transformers LLM layer."""

from __future__ import annotations

from trio_core.errors import ConfigError, IncompatibleOptimizerError
from trio_core.generation import request_hooks

from .hooks import FastV


def apply(model, settings) -> None:
    """Prune after LLM layer ``settings.layer``; its attention must be one whose scores FastV can recompute."""
    hooks = request_hooks(model, "fastv")
    attention = model.model.config.text_config._attn_implementation
    if attention not in ("sdpa", "eager"):
        raise IncompatibleOptimizerError(
            f"The optimizer 'fastv' needs sdpa or eager attention in the LLM, not {attention}."
        )
    try:
        hooks.append(FastV(model, settings.layer, settings.drop))
    except ValueError as error:
        raise ConfigError(f"--opt fastv.layer: {error}.") from None
