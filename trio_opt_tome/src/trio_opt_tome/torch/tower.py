"""The Qwen2.5-VL / Qwen2-VL vision tower, run block by block with token merging in between.

transformers' own forward cannot be reused: its attention segments, its final un-permutation
and its fixed per-image split all assume the full set of units. This loop uses the tower's
public submodules (patch embedding, rotary table, blocks' norms, qkv, projection, MLP and
merger) and transformers' helpers for positions and windows, so the weights and the layout
are the checkpoint's own; with nothing to merge it computes what the stock tower does.

Qwen2.5-VL alternates window attention (windows of 4x4 units) with full-attention blocks;
merges always stay inside a window, so every later windowed block still sees only its
window's units. Qwen2-VL attends over whole frames, so its merges stay inside a frame.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from transformers.vision_utils import get_vision_position_ids, get_vision_window_index

from trio_backend_torch.attention import segment_attention, segments

from ..schedule import Schedule
from .merging import bipartite_matching, merge_weighted, units_to_remove


@dataclass
class Encoded:
    """The tower's output for one modality: the surviving units' features in raster order."""

    features: torch.Tensor  # (kept units, LLM width)
    units: torch.Tensor  # (kept units,) their index among all units of this modality, ascending
    total: int  # units before merging


def encode(visual, pixel_values: torch.Tensor, grid_thw: torch.Tensor, schedule: Schedule) -> Encoded:
    """Run ``visual`` (the model's vision tower) on one modality's pixels, merging as ``schedule`` says."""
    merge = visual.spatial_merge_size
    slots = merge * merge
    x = visual.patch_embed(pixel_values)
    cos, sin = visual.rotary_pos_emb(x, get_vision_position_ids(grid_thw, merge))
    units = x.shape[0] // slots
    grid = grid_thw.to(torch.long)
    per_frame = (grid[:, 1] * grid[:, 2] // slots).repeat_interleave(grid[:, 0])
    frame = torch.repeat_interleave(torch.arange(len(per_frame), device=x.device), per_frame)
    full_blocks = set(getattr(visual, "fullatt_block_indexes", range(len(visual.blocks))))
    if getattr(visual, "window_size", None):
        order, bounds = get_vision_window_index(grid, merge, visual.window_size, visual.patch_size)
        order = order.to(x.device)
        window = torch.repeat_interleave(
            torch.arange(len(bounds) - 1, device=x.device), (bounds.diff() // slots).to(x.device)
        )
    else:
        order, window = torch.arange(units, device=x.device), frame
    x = x.view(units, slots, -1)[order]
    cos = cos.view(units, slots, -1)[order]
    sin = sin.view(units, slots, -1)[order]
    unit_id, frame = order, frame[order]
    size = torch.ones(units, dtype=torch.long, device=x.device)
    # The attention segments change only when units merge: tables are rebuilt then, not every block.
    windows, frames = segments(window), segments(frame)
    original = windows.counts
    rotate = sys.modules[type(visual.blocks[0].attn).__module__].apply_rotary_pos_emb_vision
    step = 0
    for index, block in enumerate(visual.blocks):
        attention = block.attn
        heads = attention.num_heads
        table = frames if index in full_blocks else windows
        qkv = attention.qkv(block.norm1(x)).view(len(x), slots, 3, heads, -1)
        query, key, value = qkv.unbind(2)
        rotated_q, rotated_k = rotate(query.flatten(0, 1), key.flatten(0, 1), cos.flatten(0, 1), sin.flatten(0, 1))
        out = segment_attention(rotated_q.view_as(query), rotated_k.view_as(key), value, table, size, attention.scaling)
        x = x + attention.proj(out.flatten(2))
        if index in schedule.blocks:
            # ToMe merges between attention and MLP, by the similarity of the attention keys.
            remove = units_to_remove(windows.counts, original, schedule.keep_after(step))
            chosen = bipartite_matching(key.mean(dim=1).flatten(1), windows, remove)
            x, size = merge_weighted(x, size, chosen)
            cos, sin, unit_id, frame, window = (t[chosen.keep] for t in (cos, sin, unit_id, frame, window))
            windows, frames = segments(window), segments(frame)
            step += 1
        x = x + block.mlp(block.norm2(x))
    features = visual.merger(x.flatten(0, 1))
    ascending = unit_id.argsort()
    return Encoded(features[ascending], unit_id[ascending], units)
