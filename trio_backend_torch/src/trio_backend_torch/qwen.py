"""Qwen-VL inputs on the torch backend, for optimizers' torch implementations.

Which of the processor's inputs hold the media, the prompt's mRoPE positions as transformers
computes them, and keeping a subset of the prompt's tokens while every kept token keeps its
place in the picture and in time. ToMe, FastV and KV reuse build on these; they know
transformers' Qwen2-VL / Qwen2.5-VL modeling code, not trio's request seam (that is
``trio_core.generation``).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["PIXEL_INPUTS", "TOKEN_INPUTS", "keep_tokens", "prompt_positions", "renumber"]

# Inputs only the vision encoder (and the mRoPE position computation) read.
PIXEL_INPUTS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw", "second_per_grid_ts")
# Inputs with one column per prompt token.
TOKEN_INPUTS = ("input_ids", "mm_token_type_ids", "attention_mask")


def prompt_positions(model, inputs: dict[str, Any]) -> torch.Tensor:
    """The prompt's mRoPE positions, ``(4, batch, length)``, kept in ``inputs["position_ids"]``.

    Computed once, by transformers' own code, while the media grids are still in ``inputs``;
    a hook that drops the pixels or keeps fewer tokens works from these, and generate uses
    them as given (it neither recomputes them nor reads the model's stale rope deltas).
    """
    if inputs.get("position_ids") is None:
        inputs["position_ids"] = model.model._prepare_position_ids_for_generation(inputs["input_ids"], dict(inputs))
    return inputs["position_ids"]


def keep_tokens(inputs: dict[str, Any], keep: torch.Tensor) -> None:
    """Keep only the prompt tokens where ``keep`` (length,) is true, in every per-token input.

    mRoPE positions (rows 1-3 of ``position_ids``) are kept as they were: a token keeps its
    place in the picture and in time. Row 0 counts the tokens given (transformers reads gaps
    there as separate packed sequences), so it is renumbered.
    """
    for name in TOKEN_INPUTS:
        if isinstance(inputs.get(name), torch.Tensor):
            inputs[name] = inputs[name][:, keep]
    if isinstance(inputs.get("position_ids"), torch.Tensor):
        inputs["position_ids"] = renumber(inputs["position_ids"][..., keep])


def renumber(positions: torch.Tensor) -> torch.Tensor:
    """``positions`` (4, batch, length) with row 0, the text positions, counted from 0 again."""
    positions = positions.clone()
    positions[0] = torch.arange(positions.shape[-1], device=positions.device)
    return positions
