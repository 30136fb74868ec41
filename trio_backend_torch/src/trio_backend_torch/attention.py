"""Attention inside contiguous segments of tokens (windows, frames), all segments in one padded SDPA call.

A published helper of the torch backend: token merging (trio-opt-tome) runs the vision tower's
attention with it, and trio-tiny's training uses it for the tower's window attention.
A *unit* is a row of ``slots`` tokens that always stay together (in Qwen-VL's tower, the 2x2
patches that become one LLM token); units come in contiguous *segments*, given as a
non-decreasing id per unit. Nothing here loops over units or segments in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Segments:
    """Units laid out as a padded table: row = segment, column = place in the segment."""

    index: torch.Tensor  # (segments, width) unit index, 0 where padding
    valid: torch.Tensor  # (segments, width) bool
    row: torch.Tensor  # (units,) each unit's segment row
    column: torch.Tensor  # (units,) each unit's place in its segment
    counts: torch.Tensor  # (segments,) units in each segment


def segments(segment: torch.Tensor) -> Segments:
    """The padded table of ``segment`` (units,), a non-decreasing segment id per unit."""
    _, counts = torch.unique_consecutive(segment, return_counts=True)
    units = len(segment)
    row = torch.repeat_interleave(torch.arange(len(counts), device=segment.device), counts)
    starts = counts.cumsum(0) - counts
    column = torch.arange(units, device=segment.device) - starts[row]
    width = int(counts.max())
    index = torch.zeros(len(counts), width, dtype=torch.long, device=segment.device)
    valid = torch.zeros(len(counts), width, dtype=torch.bool, device=segment.device)
    index[row, column] = torch.arange(units, device=segment.device)
    valid[row, column] = True
    return Segments(index, valid, row, column, counts)


def segment_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, table: Segments, size: torch.Tensor, scale: float
) -> torch.Tensor:
    """Attention inside each segment, with proportional attention: ``(units, slots, heads, dim)`` in and out.

    Each unit holds ``slots`` tokens (the patches of a 2x2 unit); a token attends to every token
    of its segment. A key standing for ``size`` merged units gets ``log(size)`` added to its
    score, as if it were that many tokens. All segments run as one padded SDPA call.
    """
    units, slots, heads, dim = query.shape
    segments_n, width = table.index.shape

    def padded(tensor: torch.Tensor) -> torch.Tensor:  # (segments, heads, width * slots, dim)
        return tensor[table.index].reshape(segments_n, width * slots, heads, dim).transpose(1, 2)

    bias = torch.where(table.valid, size[table.index].log(), float("-inf")).to(query.dtype)
    bias = bias.repeat_interleave(slots, dim=1)[:, None, None, :]
    out = F.scaled_dot_product_attention(padded(query), padded(key), padded(value), attn_mask=bias, scale=scale)
    out = out.transpose(1, 2).reshape(segments_n, width, slots, heads, dim)
    return out[table.valid]  # back to unit order: table rows are contiguous runs of units
