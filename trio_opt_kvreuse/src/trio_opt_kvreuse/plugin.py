"""Hook implementation: the ``kvreuse`` optimizer's descriptor (imports no framework)."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class KVReuse(Optimizer):
    name = "kvreuse"
    stage = Stage.KV_CACHE
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    implementations = {"torch": "trio_opt_kvreuse.torch", "mlx": "trio_opt_kvreuse.mlx"}
    summary = "Reuses the KV cache of an image or video's prompt prefix across questions about the same media."

    class Settings(OptimizerSettings):
        max_mb: float = Field(1024.0, gt=0.0, description="Most memory the cached prefixes may hold; LRU beyond.")
        similar_threshold: float = Field(
            0.03,
            ge=0.0,
            le=1.0,
            description="Reuse a cached frame's prefix for a new frame whose most changed 1/64 of the picture differs "
            "by less than this (0..1, as trio's dedup filter measures it, but in colour); 0 turns it off.",
        )
        similar_max_reuses: int = Field(
            30, ge=1, description="Similar-frame hits on one anchor frame before it is recomputed from a new frame."
        )


@hookimpl
def register_optimizers(register):
    register(KVReuse())


@hookimpl
def register_commands(cli):
    from .bench import kvreuse

    cli.commands["bench"].add_command(kvreuse)
