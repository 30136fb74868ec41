"""Hook implementations: what this distribution adds to trio (entry point ``mlx``)."""

from __future__ import annotations

from trio_core import hookimpl


@hookimpl
def register_backends(register):
    from .backend import MLXBackend

    register(MLXBackend())


@hookimpl
def register_model_families(register):
    from .families import FAMILIES

    for family in FAMILIES:
        register(family)
