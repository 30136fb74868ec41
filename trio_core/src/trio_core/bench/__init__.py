"""The bench wing: the harness every ``trio bench`` command shares, and the core's own benches.

- :mod:`.harness`: the shared options, the default model (random weights at real 3B widths),
  paired rounds that alternate which side goes first, medians of per-round ratios, and
  :func:`comparison_command` for an optimizer's "with vs without" bench;
- :mod:`.overhead` (trio vs the backend's raw library), :mod:`.events` (storing and delivering
  alerts), :mod:`.serve` (HTTP vs the SDK), :mod:`.structured` (constrained decoding),
  :mod:`.remote` (the remote backend vs the local one).

This package is a default plugin: its ``register_commands`` adds the core's benches to
``trio bench`` the way the optimizers add theirs, each imported only when it runs or
``trio bench --help`` lists it. Plugins import the harness from here
(``from trio_core.bench import comparison_command``); product code never imports the bench.
"""

from __future__ import annotations

import importlib

from ..hookspecs import hookimpl

# The core's benches: `trio bench NAME` -> the click command, by import path.
BENCHES = {
    "overhead": "trio_core.bench.overhead:overhead",
    "events": "trio_core.bench.events:events_bench",
    "serve": "trio_core.bench.serve:serve_bench",
    "structured": "trio_core.bench.structured:structured_bench",
    "remote": "trio_core.bench.remote:remote_bench",
}

# The harness's names, loaded on first use: this module is imported with every plugin load (the SDK's too),
# and the harness brings click and numpy.
_HARNESS = (
    "QUESTION",
    "alternating_rounds",
    "bench_checkpoint",
    "bench_options",
    "compare_optimizers",
    "comparison_command",
    "frames_option",
    "paired_ratio",
    "percentile",
    "render_comparison",
    "snapshot",
)


@hookimpl
def register_commands(cli):
    bench = cli.commands["bench"]
    for name, import_path in BENCHES.items():
        bench.add_lazy_command(name, import_path)


def __getattr__(name: str):
    if name in _HARNESS:
        return getattr(importlib.import_module(".harness", __name__), name)
    raise AttributeError(f"module 'trio_core.bench' has no attribute {name!r}")


__all__ = [*_HARNESS]
