"""kvreuse on the mlx backend (``pip install 'trio-opt-kvreuse[mlx]'``): the prefix cache on mlx-vlm's KV caches."""

from __future__ import annotations

from .prefix import PrefixCache

apply = PrefixCache.apply
