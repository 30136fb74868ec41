"""ToMe on the mlx backend (``pip install 'trio-opt-tome[mlx]'``): merging inside mlx-vlm's Qwen-VL tower."""

from __future__ import annotations

from trio_core.generation import request_hooks

from ..schedule import Schedule
from .hooks import TokenMerging


def apply(model, settings) -> None:
    """Merge in the vision blocks ``settings`` name (checked against this model's tower)."""
    hooks = request_hooks(model, "tome")
    depth = len(model.model.vision_tower.blocks)
    hooks.append(TokenMerging(model, Schedule.from_settings(settings, depth)))
