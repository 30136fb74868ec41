"""kvreuse on the mlx backend (``pip install 'trio-opt-kvreuse[mlx]'``): the prefix cache on mlx-vlm's KV caches."""

from __future__ import annotations

from trio_core.generation import request_hooks

from .prefix import PrefixCache


def apply(model, settings) -> None:
    """Give the loaded model a prefix cache bounded by ``settings.max_mb``."""
    request_hooks(model, "kvreuse").append(
        PrefixCache(
            model,
            max_bytes=int(settings.max_mb * 2**20),
            similar_threshold=settings.similar_threshold,
            similar_max_reuses=settings.similar_max_reuses,
        )
    )
