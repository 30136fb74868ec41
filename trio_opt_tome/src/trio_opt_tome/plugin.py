"""Hook implementation: the ``tome`` optimizer's descriptor (imports no framework)."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class TokenMergingOptimizer(Optimizer):
    name = "tome"
    stage = Stage.VISION_ENCODER
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    implementations = {"torch": "trio_opt_tome.torch", "mlx": "trio_opt_tome.mlx"}
    summary = "Merges similar visual tokens inside the vision encoder (ToMe), so the LLM gets fewer of them."

    def conflicts_on(self, backend: str) -> frozenset[str]:
        # On mlx the media prefix kvreuse caches would be computed from the unmerged tower: not built yet.
        return self.conflicts | {"kvreuse"} if backend == "mlx" else self.conflicts

    class Settings(OptimizerSettings):
        keep: float = Field(0.5, gt=0.0, le=1.0, description="Share of the visual tokens left after the last merge.")
        per_layer: float | None = Field(
            None, ge=0.0, lt=1.0, description="Share of the tokens merged in each merging block; overrides keep."
        )
        layers: list[int] | None = Field(
            None, description="Vision blocks (0-based) that merge after their attention; default: all but the last."
        )


@hookimpl
def register_optimizers(register):
    register(TokenMergingOptimizer())


@hookimpl
def register_commands(cli):
    from .bench import tome

    cli.commands["bench"].add_command(tome)
