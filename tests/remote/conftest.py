"""Real ``trio serve --model trio-tiny`` servers on loopback for the remote backend to talk to.

A server takes a few seconds to start (trio-tiny loads in well under one), so the module-scoped
``trio_server`` is shared; tests that kill a server start their own.
"""

import pytest

from tests.server.conftest import running_server
from tests.watch.conftest import ORANGE, appears, tiny_engine  # noqa: F401 - fixtures
from trio_core import TrioCore

DEMO_CLIP = "trio_model_tiny/src/trio_model_tiny/demo/moving.mp4"
DEMO_PICTURE = "trio_model_tiny/src/trio_model_tiny/demo/shapes.png"
# Fast enough for tests: a failing server is left out for 0.2 s at first, 1 s at most.
QUICK = {"backoff_s": 0.2, "backoff_max_s": 1.0, "connect_timeout_s": 2.0}


@pytest.fixture(scope="module")
def trio_server():
    """One real trio server on trio-tiny; yields its API base URL (…/v1) and the process."""
    with running_server("--model", "trio-tiny", "--max-tokens", "8") as (url, process):
        yield url + "/v1", process


def remote(*endpoints: str, **settings) -> TrioCore:
    """The openai backend on ``endpoints``, loaded; ``settings`` are its backend settings."""
    options = {key: settings.pop(key) for key in list(settings) if key in ("max_tokens", "dedup_threshold", "fps")}
    config = {"openai": {**QUICK, **settings}}
    return TrioCore(model="trio-tiny", endpoints=list(endpoints), backend_settings=config, **options).load()
