"""ToMe on the torch backend (``pip install 'trio-opt-tome[torch]'``): merging inside transformers' Qwen-VL tower."""

from __future__ import annotations

from trio_core.generation import request_hooks

from ..schedule import Schedule
from .hooks import TokenMerging


def apply(model, settings) -> None:
    """Merge in the vision blocks ``settings`` name (checked against this model's tower)."""
    hooks = request_hooks(model, "tome")
    depth = len(model.model.model.visual.blocks)
    hooks.append(TokenMerging(model, Schedule.from_settings(settings, depth)))
