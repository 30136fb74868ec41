"""Hook implementations: what this distribution adds to trio (entry point ``torch``)."""

from __future__ import annotations

from trio_core import hookimpl


@hookimpl
def register_backends(register):
    from .backend import TorchBackend

    register(TorchBackend())


@hookimpl
def register_model_families(register):
    from .families import FAMILIES

    for family in FAMILIES:
        register(family)
