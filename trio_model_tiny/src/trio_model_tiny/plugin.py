"""Hook implementations: the ``trio-tiny`` model, the ``synthetic`` benchmark suite and ``trio bench watch``."""

from __future__ import annotations

from pathlib import Path

from trio_core import hookimpl

WEIGHTS = Path(__file__).parent / "weights"
DEMO = Path(__file__).parent / "demo"


@hookimpl
def register_models(register):
    from trio_core.models import NamedModel

    register(
        NamedModel(
            "trio-tiny",
            WEIGHTS,
            "Qwen2.5-VL, 1.6 M parameters, trained on synthetic shapes: knows shapes, colours, counts, "
            "positions and motion, not the world.",
        )
    )


@hookimpl
def register_eval_suites(register):
    from .suite import SyntheticSuite

    register(SyntheticSuite())


@hookimpl
def register_commands(cli):
    from .watch_bench import watch_bench

    cli.commands["bench"].add_command(watch_bench)
