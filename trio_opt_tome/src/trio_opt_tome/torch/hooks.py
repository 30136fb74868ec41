"""ToMe in a request of the torch backend: encode with merging, then hand generate fewer tokens.

The placeholder run of each image or video in the prompt shrinks to the units that survived
(in their raster order, as the features are), and the positions are the ones transformers
computes for the full prompt, gathered for the tokens kept: a merged token sits at the mRoPE
position of the unit it was merged into, and the text after the media keeps its positions.
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from trio_backend_torch.qwen import PIXEL_INPUTS, keep_tokens, prompt_positions
from trio_core.generation import Request, RequestHook

from ..schedule import Schedule
from .tower import encode

# (modality, pixel input, grid input, the model config's placeholder token id attribute)
MODALITIES = (
    ("image", "pixel_values", "image_grid_thw", "image_token_id"),
    ("video", "pixel_values_videos", "video_grid_thw", "video_token_id"),
)


class TokenMerging(RequestHook):
    def __init__(self, model, schedule: Schedule):
        self.schedule = schedule
        config = model.model.config
        self.placeholders = {modality: getattr(config, attribute) for modality, *_, attribute in MODALITIES}

    def before_generate(self, model, request: Request) -> None:
        inputs = request.inputs
        ids = inputs["input_ids"]
        if ids.shape[0] != 1 or not any(inputs.get(pixels) is not None for _, pixels, *_ in MODALITIES):
            return
        prompt_positions(model, inputs)  # of the full prompt: the tokens kept keep theirs
        keep = torch.ones(ids.shape[1], dtype=torch.bool, device=ids.device)
        encoded, before, after = {}, 0, 0
        visual = model.model.model.visual
        for modality, pixels, grid, _ in MODALITIES:
            if inputs.get(pixels) is None:
                continue
            result = encode(visual, inputs[pixels], inputs[grid], self.schedule)
            placeholders = (ids[0] == self.placeholders[modality]).nonzero()[:, 0]
            kept = torch.zeros(result.total, dtype=torch.bool, device=ids.device)
            kept[result.units] = True
            keep[placeholders] = kept
            encoded[modality] = BaseModelOutputWithPooling(pooler_output=(result.features,))
            before, after = before + result.total, after + len(result.units)
        for name in PIXEL_INPUTS:
            inputs.pop(name, None)
        inputs["mm_encoder_outputs"] = encoded
        keep_tokens(inputs, keep)
        request.stats.visual_token_steps.append(("tome", before, after))
