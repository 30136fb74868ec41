"""FastV on the mlx backend (``pip install 'trio-opt-fastv[mlx]'``): pruning after an mlx-vlm LLM layer."""

from __future__ import annotations

from trio_core.errors import ConfigError
from trio_core.generation import request_hooks

from .layers import FastV


def apply(model, settings) -> None:
    """Prune after LLM layer ``settings.layer`` of the model's mlx-vlm language model."""
    hooks = request_hooks(model, "fastv")
    try:
        hooks.append(FastV(model, settings.layer, settings.drop))
    except ValueError as error:
        raise ConfigError(f"--opt fastv.layer: {error}.") from None
