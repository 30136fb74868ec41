"""mlx-vlm's Qwen2.5-VL / Qwen2-VL vision tower, run block by block with token merging in between.

mlx-vlm's own forward cannot be reused: its attention splits at fixed window and frame bounds, and its final
un-permutation assumes every unit survives. This loop uses the tower's own submodules (patch embedding,
rotary table, window index, blocks' norms, qkv, projection, MLP, merger), so the weights and the layout are
the checkpoint's; with nothing to merge it computes what the stock tower does.

Qwen2.5-VL alternates window attention (windows of 4x4 units) with full-attention blocks; merges stay inside
a window, so every later windowed block still sees only its window's units. Qwen2-VL attends over whole
frames, so its merges stay inside a frame. Attention runs over all segments in one padded call, with
proportional attention: a key standing for ``size`` merged units gets ``log(size)`` added to its score.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from ..schedule import Schedule
from ..segments import Merge, Segments, bipartite_matching, units_to_remove


@dataclass
class Encoded:
    """The tower's output for one modality: the surviving units' features in raster order."""

    features: mx.array  # (kept units, LLM width)
    units: np.ndarray  # (kept units,) their index among all units of this modality, ascending
    total: int  # units before merging


def encode(visual, pixel_values: mx.array, grid_thw: mx.array, schedule: Schedule) -> Encoded:
    """Run ``visual`` (the model's vision tower) on one modality's pixels, merging as ``schedule`` says."""
    slots = visual.spatial_merge_size**2
    x = visual.patch_embed(pixel_values.astype(visual.patch_embed.proj.weight.dtype))
    freqs = visual.rot_pos_emb(grid_thw)
    units = x.shape[0] // slots
    grid = np.asarray(grid_thw).astype(np.int64)
    per_frame = np.repeat(grid[:, 1] * grid[:, 2] // slots, grid[:, 0])
    frame = np.repeat(np.arange(len(per_frame)), per_frame)
    if getattr(visual, "window_size", None):
        window_index, bounds = visual.get_window_index(grid_thw)
        order = np.asarray(window_index).astype(np.int64)
        bounds = np.unique(np.asarray(bounds))
        window = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds) // slots)
        full_blocks = set(visual.fullatt_block_indexes)
    else:
        order, window, full_blocks = np.arange(units), frame, set(range(len(visual.blocks)))
    taken = mx.array(order)
    x = x.reshape(units, slots, -1)[taken]
    freqs = freqs.reshape(units, slots, -1)[taken]
    unit_id, frame = order, frame[order]
    size = np.ones(units, dtype=np.int64)
    # The attention segments change only when units merge: tables are rebuilt then, not every block.
    windows, frames = Segments.of(window), Segments.of(frame)
    original = windows.counts
    rotate = sys.modules[type(visual.blocks[0].attn).__module__].apply_rotary_pos_emb_vision
    step = 0
    for index, block in enumerate(visual.blocks):
        attention = block.attn
        heads = attention.num_heads
        table = frames if index in full_blocks else windows
        count = x.shape[0]
        qkv = attention.qkv(block.norm1(x)).reshape(count, slots, 3, heads, -1)
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        flat = freqs.reshape(count * slots, -1)
        rotated_q = rotate(query.reshape(1, count * slots, heads, -1), flat)[0].reshape(query.shape)
        rotated_k = rotate(key.reshape(1, count * slots, heads, -1), flat)[0].reshape(key.shape)
        out = segment_attention(rotated_q, rotated_k, value, table, size, attention.scale)
        x = x + attention.proj(out.reshape(count, slots, -1))
        if index in schedule.blocks:
            # ToMe merges between attention and MLP, by the similarity of the attention keys.
            remove = units_to_remove(windows.counts, original, schedule.keep_after(step))
            chosen = bipartite_matching(
                np.asarray(key.mean(axis=1).reshape(count, -1).astype(mx.float32)), windows, remove
            )
            x, size = merge_weighted(x, size, chosen)
            kept = np.flatnonzero(chosen.keep)
            freqs = freqs[mx.array(kept)]
            unit_id, frame, window = unit_id[kept], frame[kept], window[kept]
            windows, frames = Segments.of(window), Segments.of(frame)
            step += 1
        x = x + block.mlp(block.norm2(x))
    features = visual.merger(x.reshape(-1, x.shape[-1]))
    ascending = np.argsort(unit_id, kind="stable")
    return Encoded(features[mx.array(ascending)], unit_id[ascending], units)


def segment_attention(
    query: mx.array, key: mx.array, value: mx.array, table: Segments, size: np.ndarray, scale: float
) -> mx.array:
    """Attention inside each segment, with proportional attention: ``(units, slots, heads, dim)`` in and out.

    Each unit holds ``slots`` tokens (the patches of a 2x2 unit); a token attends to every token of its
    segment. All segments run as one padded attention call.
    """
    units, slots, heads, dim = query.shape
    segments_n, width = table.index.shape
    index = mx.array(table.index)

    def padded(array: mx.array) -> mx.array:  # (segments, heads, width * slots, dim)
        return array[index].reshape(segments_n, width * slots, heads, dim).transpose(0, 2, 1, 3)

    bias = np.where(table.valid, np.log(size[table.index]), -np.inf).astype(np.float32)
    bias = mx.array(np.repeat(bias, slots, axis=1)[:, None, None, :]).astype(query.dtype)
    out = mx.fast.scaled_dot_product_attention(padded(query), padded(key), padded(value), scale=scale, mask=bias)
    out = out.transpose(0, 2, 1, 3).reshape(segments_n * width, slots, heads, dim)
    return out[mx.array(table.row * width + table.column)]  # back to unit order


def merge_weighted(values: mx.array, size: np.ndarray, merge: Merge) -> tuple[mx.array, np.ndarray]:
    """Average each source into its target, weighted by size; returns the surviving values and sizes."""
    if not len(merge.source):
        return values, size
    weights = mx.array(size.astype(np.float32)).astype(values.dtype).reshape(-1, 1, 1)
    summed = values * weights
    summed = summed.at[mx.array(merge.target)].add(summed[mx.array(merge.source)])
    total = size.copy()
    np.add.at(total, merge.target, size[merge.source])
    kept = mx.array(np.flatnonzero(merge.keep))
    merged = summed[kept] / mx.array(total[merge.keep].astype(np.float32)).astype(values.dtype).reshape(-1, 1, 1)
    return merged, total[merge.keep]
