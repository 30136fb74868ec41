"""Token merging on units grouped in segments: the algorithm, free of any model's glue.

A *unit* is what becomes one LLM token (in Qwen-VL, 2x2 patches); units come in contiguous
*segments* (attention windows or frames), given as a non-decreasing id per unit. Everything
here works on whole tables of segments at once: no Python loop over units or segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trio_backend_torch.attention import Segments


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
