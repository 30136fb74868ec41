"""What the watch tests share: trio-tiny, and a clip in which an orange square appears after two seconds."""

import numpy as np
import pytest

from tests.media import write_clip
from trio_core import TrioCore
from trio_model_tiny.watch_bench import demo_frames  # the bundled clip's 8 frames, 4 a second

APPEARS_AT = 2.0  # seconds into the clip
ORANGE = "Is there an orange square?"
PURPLE = "Is there a purple triangle?"


@pytest.fixture(scope="session")
def tiny_engine():
    """trio-tiny with dedup off: these clips repeat frames on purpose."""
    return TrioCore(model="trio-tiny", max_tokens=4, dedup_threshold=0).load()


@pytest.fixture(scope="session")
def gating_engine():
    """trio-tiny with the default filters (dedup on)."""
    return TrioCore(model="trio-tiny", max_tokens=4).load()


@pytest.fixture(scope="session")
def appears(tmp_path_factory):
    """2 s of the empty background, then the orange square for 2 s (4 frames a second)."""
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    return write_clip(tmp_path_factory.mktemp("watch") / "appears.mp4", [empty] * 8 + frames, fps=4)
