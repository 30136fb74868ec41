"""Hook implementation: the ``kvreuse`` optimizer."""

from __future__ import annotations

from pydantic import Field

from trio_core import hookimpl
from trio_core.errors import IncompatibleOptimizerError
from trio_core.optimizers import Optimizer, OptimizerSettings, Stage


class KVReuse(Optimizer):
    name = "kvreuse"
    stage = Stage.KV_CACHE
    families = frozenset({"qwen2_5_vl", "qwen2_vl"})
    backends = frozenset({"torch"})
    summary = "Reuses the KV cache of an image or video's prompt prefix across questions about the same media."

    class Settings(OptimizerSettings):
        max_mb: float = Field(1024.0, gt=0.0, description="Most memory the cached prefixes may hold; LRU beyond.")

    def apply(self, model, config) -> None:
        from .prefix import PrefixCache

        hooks = getattr(model, "request_hooks", None)
        if hooks is None:
            raise IncompatibleOptimizerError(
                f"The optimizer 'kvreuse' needs the torch backend's request hooks, which {type(model).__name__} lacks."
            )
        hooks.append(PrefixCache(model, max_bytes=int(self.settings(config).max_mb * 2**20)))


@hookimpl
def register_optimizers(register):
    register(KVReuse())


@hookimpl
def register_commands(cli):
    from .bench import kvreuse

    cli.commands["bench"].add_command(kvreuse)
