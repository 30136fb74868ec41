"""What the torch tests share: random frames, an engine on a checkpoint, one question about an image or clip."""

import numpy as np

from trio_core import TrioCore


def noise_frames(count=4, height=64, width=96, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def engine_for(path, **overrides):
    settings = {"max_tokens": 12, "dedup_threshold": 0.0, "fps": 2.0, "max_frames": 8, "min_frames": 1}
    return TrioCore(model=str(path), **{**settings, **overrides}).load()


def ask(engine, item, question):
    """``item``: one frame (an image) or a list of frames (a clip)."""
    return engine.analyze_video(item, question) if isinstance(item, list) else engine.analyze_frame(item, question)
