"""Hook implementation: the ``fastv`` optimizer."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.errors import ConfigError, IncompatibleOptimizerError
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class FastVOptimizer(Optimizer):
    name = "fastv"
    stage = Stage.LLM_PREFILL
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    backends = frozenset({"torch"})
    summary = "Drops the visual tokens the question attends to least after LLM layer K (prefill and KV cache)."

    class Settings(OptimizerSettings):
        layer: int = Field(2, ge=0, description="The LLM layer (0-based) after which visual tokens are dropped.")
        drop: float = Field(0.5, ge=0.0, lt=1.0, description="Share of the visual tokens dropped.")

    def apply(self, model, config) -> None:
        from trio_backend_torch.requests import request_hooks

        from .hooks import FastV

        hooks = request_hooks(model, self.name)
        attention = model.model.config.text_config._attn_implementation
        if attention not in ("sdpa", "eager"):
            raise IncompatibleOptimizerError(
                f"The optimizer 'fastv' needs sdpa or eager attention in the LLM, not {attention}."
            )
        settings = self.settings(config)
        try:
            hooks.append(FastV(model, settings.layer, settings.drop))
        except ValueError as error:
            raise ConfigError(f"--opt fastv.layer: {error}.") from None


@hookimpl
def register_optimizers(register):
    register(FastVOptimizer())


@hookimpl
def register_commands(cli):
    from .bench import fastv

    cli.commands["bench"].add_command(fastv)
