"""Hook implementations: what this distribution adds to trio (entry point ``openai``)."""

from __future__ import annotations

from trio_core import hookimpl


@hookimpl
def register_backends(register):
    from .backend import OpenAIBackend

    register(OpenAIBackend())


@hookimpl
def register_model_families(register):
    from .backend import REMOTE_FAMILY

    register(REMOTE_FAMILY)
