"""The plain mlx-vlm path, without any trio code: what ``trio bench overhead`` times trio against.

Where it sees a video differently from trio, it is mlx-vlm's own way: it budgets a Qwen2/2.5-VL clip as a
whole (as Qwen3-VL does) where transformers and trio size each frame within its bounds, so frames larger than
a checkpoint's per-frame bound reach the model at other sizes (trio-tiny's is 224x224), and it counts a
Qwen2.5-VL video's time by temporal patch where transformers counts seconds (the bench's 4 frames a second
make the two the same).
"""

from __future__ import annotations

import contextlib

import numpy as np


def raw_generate(model, processor, frames: list[np.ndarray], question: str, *, fps: float, max_tokens: int, sizing):
    """Greedy answer token ids as mlx-vlm's README asks: its chat template, then ``stream_generate`` with the
    frames (one: an image; more: a video of decoded frames). ``sizing``: the video processor's own pixel
    bounds, which trio's Qwen-VL family opened (it sizes frames itself), put back while mlx-vlm runs."""
    from mlx_vlm import stream_generate
    from mlx_vlm.prompt_utils import apply_chat_template
    from PIL import Image

    if len(frames) == 1:
        prompt = apply_chat_template(processor, model.config, question, num_images=1)
        media = {"image": [Image.fromarray(frames[0])]}
    else:
        video = np.stack(frames)
        prompt = apply_chat_template(processor, model.config, question, video=[video], fps=fps)
        media = {"video": [video], "fps": fps}
    with video_bounds(processor, sizing):
        *_, last = stream_generate(model, processor, prompt, max_tokens=max_tokens, temperature=0.0, **media)
    return list(last.token_ids)  # the last result lists the answer's ids, with the end token it stopped on


@contextlib.contextmanager
def video_bounds(processor, sizing):
    """The video processor with the pixel bounds of ``sizing`` (a FrameSizing, or None: as it is)."""
    video = getattr(processor, "video_processor", None)
    if sizing is None or video is None:
        yield
        return
    opened = video.min_pixels, video.max_pixels
    video.min_pixels, video.max_pixels = sizing.min_pixels, sizing.max_pixels
    try:
        yield
    finally:
        video.min_pixels, video.max_pixels = opened
