"""ToMe in a request of the mlx backend: encode with merging, then hand ``generate_step`` fewer tokens.

The placeholder run of the image(s) or video in the prompt shrinks to the units that survived (in their
raster order, as the features are), and the positions are the full prompt's (trio's Qwen family lays them
out as transformers does), gathered for the tokens kept: a merged token sits at the mRoPE position of the
unit it was merged into, and the text after the media keeps its positions. The features reach mlx-vlm as
its own ``cached_image_features``, so its model places them and skips its tower. mlx-vlm places each decoded
token at the cache's length plus the rope deltas: those grow by the tokens merged away.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from trio_core.generation import Request, RequestHook

from ..schedule import Schedule
from .tower import encode

# (pixel input, grid input, the model config's placeholder token id attribute)
MODALITIES = (
    ("pixel_values", "image_grid_thw", "image_token_id"),
    ("pixel_values_videos", "video_grid_thw", "video_token_id"),
)


class TokenMerging(RequestHook):
    def __init__(self, model, schedule: Schedule):
        self.schedule = schedule
        config = model.model.config
        self.placeholders = {pixels: getattr(config, attribute) for pixels, _, attribute in MODALITIES}

    def before_generate(self, model, request: Request) -> None:
        inputs = request.inputs
        ids = np.asarray(inputs["input_ids"])
        present = [(pixels, grid) for pixels, grid, _ in MODALITIES if inputs.get(pixels) is not None]
        if ids.shape[0] != 1 or not present or "position_ids" not in inputs:
            return
        keep = np.ones(ids.shape[1], dtype=bool)
        features, before, after = [], 0, 0
        for pixels, grid in present:  # mlx-vlm's Qwen-VL prompt holds images or one video (trio's family checks)
            result = encode(model.model.vision_tower, inputs[pixels], inputs[grid], self.schedule)
            placeholders = np.flatnonzero(ids[0] == self.placeholders[pixels])
            kept = np.zeros(result.total, dtype=bool)
            kept[result.units] = True
            keep[placeholders] = kept
            features.append(result.features)
            before, after = before + result.total, after + len(result.units)
        index = mx.array(np.flatnonzero(keep))
        inputs["cached_image_features"] = mx.concatenate(features) if len(features) > 1 else features[0]
        inputs["input_ids"] = inputs["input_ids"][:, index]
        inputs["position_ids"] = inputs["position_ids"][..., index]
        inputs["rope_deltas"] = inputs["rope_deltas"] + int(len(keep) - keep.sum())
        for _, grid in present:  # the grids describe every unit; the positions above are what counts now
            inputs.pop(grid)
        request.stats.visual_token_steps.append(("tome", before, after))
