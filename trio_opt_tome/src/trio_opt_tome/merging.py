"""Token merging on units grouped in segments: the algorithm, free of any model's glue.

A *unit* is what becomes one LLM token (in Qwen-VL, 2x2 patches); units come in contiguous
*segments* (attention windows or frames), given as a non-decreasing id per unit. Everything
here works on whole tables of segments at once: no Python loop over units or segments.
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


@dataclass
class Merge:
    """One merging step: which units survive, and the merged values."""

    keep: torch.Tensor  # (units,) bool
    source: torch.Tensor  # units merged away
    target: torch.Tensor  # the unit each source was merged into


def bipartite_matching(metric: torch.Tensor, table: Segments, remove: torch.Tensor) -> Merge:
    """Bipartite soft matching inside each segment (ToMe): choose ``remove[s]`` units of segment s to merge away.

    Units at even places of a segment may be merged into units at odd places; each even unit
    proposes its most similar odd unit (cosine of ``metric`` rows), and the ``remove[s]`` best
    proposals of each segment are taken. Odd units can receive several, so a segment keeps at
    least its odd half.
    """
    metric = F.normalize(metric.float(), dim=-1)
    even = table.column % 2 == 0
    segments_n = len(table.counts)
    width_a, width_b = (table.index.shape[1] + 1) // 2, table.index.shape[1] // 2
    a = torch.full((segments_n, width_a), -1, dtype=torch.long, device=metric.device)
    b = torch.full((segments_n, max(width_b, 1)), -1, dtype=torch.long, device=metric.device)
    units = torch.arange(len(metric), device=metric.device)
    a[table.row[even], table.column[even] // 2] = units[even]
    b[table.row[~even], table.column[~even] // 2] = units[~even]
    similarity = metric[a.clamp(min=0)] @ metric[b.clamp(min=0)].transpose(1, 2)  # (segments, width_a, width_b)
    similarity = similarity.masked_fill((b < 0)[:, None, :], float("-inf"))
    best, partner = similarity.max(dim=-1)
    best = best.masked_fill(a < 0, float("-inf"))
    order = best.argsort(dim=-1, descending=True)
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(width_a, device=metric.device).expand_as(order))
    chosen = (rank < remove[:, None]) & best.isfinite()
    source = a[chosen]
    target = b.gather(1, partner)[chosen]
    keep = torch.ones(len(metric), dtype=torch.bool, device=metric.device)
    keep[source] = False
    return Merge(keep, source, target)


def merge_weighted(values: torch.Tensor, size: torch.Tensor, merge: Merge) -> tuple[torch.Tensor, torch.Tensor]:
    """Average each source into its target, weighted by size; returns the surviving values and sizes."""
    weights = size.to(values.dtype).view(-1, *([1] * (values.dim() - 1)))
    summed = values * weights
    summed.index_add_(0, merge.target, summed[merge.source])
    total = size.clone().index_add_(0, merge.target, size[merge.source])
    merged = summed / total.to(values.dtype).view_as(weights)
    return merged[merge.keep], total[merge.keep]


def units_to_remove(counts: torch.Tensor, original: torch.Tensor, keep_after: float) -> torch.Tensor:
    """Units each segment gives up so that about ``keep_after`` of its ``original`` count stays (at least one)."""
    target = (original.float() * keep_after).round().clamp(min=1).long()
    return (counts - target).clamp(min=0)
