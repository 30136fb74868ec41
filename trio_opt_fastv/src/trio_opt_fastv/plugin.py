"""Hook implementation: the ``fastv`` optimizer's descriptor (imports no framework)."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class FastVOptimizer(Optimizer):
    name = "fastv"
    stage = Stage.LLM_PREFILL
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    implementations = {"torch": "trio_opt_fastv.torch", "mlx": "trio_opt_fastv.mlx"}
    summary = "Drops the visual tokens the question attends to least after LLM layer K (prefill and KV cache)."

    class Settings(OptimizerSettings):
        layer: int = Field(2, ge=0, description="The LLM layer (0-based) after which visual tokens are dropped.")
        drop: float = Field(0.5, ge=0.0, lt=1.0, description="Share of the visual tokens dropped.")


@hookimpl
def register_optimizers(register):
    register(FastVOptimizer())


@hookimpl
def register_commands(cli):
    from .bench import fastv

    cli.commands["bench"].add_command(fastv)
