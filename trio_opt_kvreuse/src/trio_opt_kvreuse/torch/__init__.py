"""kvreuse on the torch backend (``pip install 'trio-opt-kvreuse[torch]'``): the prefix cache as a request hook."""

from __future__ import annotations

from .prefix import PrefixCache

apply = PrefixCache.apply
