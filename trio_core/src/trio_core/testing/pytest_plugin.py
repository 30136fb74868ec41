"""Fixtures for testing trio plugins, loaded by pytest through trio-core's ``pytest11`` entry point.

Install trio-core in the environment that runs your tests and these are there, no import needed:

- ``trio_checkpoint(family, backend="auto", size="tiny")``: the directory of a random-weight
  checkpoint of a model family (``"qwen2_5_vl"``, ``"smolvlm"``, ...), in the layout a hub
  download has, written once per test session by a backend that can write one (the torch
  backend writes every family it runs). ``TrioCore(model=str(path)).load()`` loads it through
  the same code a real checkpoint goes through, in milliseconds, offline.
- ``trio_plugin(plugin, name=None)``: registers a plugin (a module or an object with
  ``@hookimpl`` methods) for one test, and unregisters it afterwards.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trio_checkpoint(tmp_path_factory):
    """Build (once per session) a random-weight checkpoint: ``trio_checkpoint("qwen2_5_vl")`` is its directory."""
    built = {}

    def build(family: str, backend: str = "auto", size: str = "tiny"):
        key = (family, backend, size)
        if key not in built:
            from trio_core.testing import checkpoint_writer

            writer = checkpoint_writer(backend)
            built[key] = writer.write_random_checkpoint(family, tmp_path_factory.mktemp(f"{family}-{size}"), size=size)
        return built[key]

    return build


@pytest.fixture
def trio_plugin():
    """Register plugins for one test: ``trio_plugin(my_module)``; each is unregistered when the test ends."""
    from trio_core.plugins import load_plugins, pm

    load_plugins()  # the installed plugins first, so the test's come before them in call order
    names = []

    def register(plugin, name: str | None = None):
        names.append(pm.register(plugin, name=name))
        return plugin

    yield register
    for name in reversed(names):
        pm.unregister(name=name)
