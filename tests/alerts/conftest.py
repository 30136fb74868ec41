"""What the alert tests share: a real MQTT broker (Debian's mosquitto), a real webhook receiver, alert storms."""

import numpy as np
import pytest

from tests.media import write_clip
from trio_core.testing.loopback import Mosquitto
from trio_model_tiny.watch_bench import demo_frames

ORANGE = "Is there an orange square?"


@pytest.fixture
def broker(tmp_path):
    """Debian's mosquitto (.ci/run installs it) on a loopback port."""
    running = Mosquitto(tmp_path).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def storm(tmp_path_factory):
    """The orange square on every other frame, 4 frames a second, for 20 s, then empty: with confirm=1, clear=1 and no
    cooldown, an alert every half second (40 of them)."""
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    return write_clip(tmp_path_factory.mktemp("storm") / "storm.mp4", [empty, frames[0]] * 40 + [empty], fps=4)


STORM = {"confirm": 1, "clear": 1, "cooldown_s": 0.0, "fps": 4}


@pytest.fixture(scope="session")
def engine():
    """trio-tiny with dedup off: the storm repeats its two frames on purpose."""
    from trio_core import TrioCore

    return TrioCore(model="trio-tiny", max_tokens=4, dedup_threshold=0).load()
