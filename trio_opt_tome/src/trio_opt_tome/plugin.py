"""Hook implementation: the ``tome`` optimizer."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.errors import ConfigError
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class TokenMergingOptimizer(Optimizer):
    name = "tome"
    stage = Stage.VISION_ENCODER
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    backends = frozenset({"torch"})
    summary = "Merges similar visual tokens inside the vision encoder (ToMe), so the LLM gets fewer of them."

    class Settings(OptimizerSettings):
        keep: float = Field(0.5, gt=0.0, le=1.0, description="Share of the visual tokens left after the last merge.")
        per_layer: float | None = Field(
            None, ge=0.0, lt=1.0, description="Share of the tokens merged in each merging block; overrides keep."
        )
        layers: list[int] | None = Field(
            None, description="Vision blocks (0-based) that merge after their attention; default: all but the last."
        )

    def apply(self, model, config) -> None:
        from trio_backend_torch.requests import request_hooks

        from .hooks import TokenMerging
        from .tower import Schedule

        hooks = request_hooks(model, self.name)
        settings = self.settings(config)
        depth = len(model.model.model.visual.blocks)
        blocks = tuple(settings.layers) if settings.layers is not None else tuple(range(depth - 1))
        if not blocks or any(not 0 <= block < depth for block in blocks):
            raise ConfigError(
                f"--opt tome.layers: give vision blocks between 0 and {depth - 1} (this model has {depth})."
            )
        hooks.append(TokenMerging(model, Schedule(tuple(sorted(set(blocks))), settings.keep, settings.per_layer)))


@hookimpl
def register_optimizers(register):
    register(TokenMergingOptimizer())


@hookimpl
def register_commands(cli):
    from .bench import tome

    cli.commands["bench"].add_command(tome)
