"""Token merging's bookkeeping in numpy, for backends whose arrays numpy reads without a copy to make (MLX):
units in segments, which ones merge, and how many each segment gives up. The torch implementation keeps its
own copy of these steps on the device (``torch/merging.py``): the same algorithm, never a round trip through
the host on a GPU.

A *unit* is what becomes one LLM token (in Qwen-VL, 2x2 patches); units come in contiguous *segments*
(attention windows or frames), given as a non-decreasing id per unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Segments:
    """Units laid out as a padded table: row = segment, column = place in the segment."""

    index: np.ndarray  # (segments, width) unit index, 0 where padding
    valid: np.ndarray  # (segments, width) bool
    row: np.ndarray  # (units,) each unit's segment row
    column: np.ndarray  # (units,) each unit's place in its segment
    counts: np.ndarray  # (segments,) units in each segment

    @classmethod
    def of(cls, segment: np.ndarray) -> Segments:
        """The padded table of ``segment`` (units,), a non-decreasing segment id per unit."""
        segment = np.asarray(segment)
        starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
        counts = np.diff(np.r_[starts, len(segment)])
        row = np.repeat(np.arange(len(counts)), counts)
        column = np.arange(len(segment)) - starts[row]
        index = np.zeros((len(counts), int(counts.max())), dtype=np.int64)
        valid = np.zeros(index.shape, dtype=bool)
        index[row, column] = np.arange(len(segment))
        valid[row, column] = True
        return cls(index, valid, row, column, counts)


@dataclass
class Merge:
    """One merging step: which units survive, and which unit each merged-away one went into."""

    keep: np.ndarray  # (units,) bool
    source: np.ndarray  # units merged away
    target: np.ndarray  # the unit each source was merged into


def bipartite_matching(metric: np.ndarray, table: Segments, remove: np.ndarray) -> Merge:
    """Bipartite soft matching inside each segment (ToMe): choose ``remove[s]`` units of segment s to merge away.

    Units at even places of a segment may be merged into units at odd places; each even unit proposes its most
    similar odd unit (cosine of ``metric`` rows), and the ``remove[s]`` best proposals of each segment are
    taken. Odd units can receive several, so a segment keeps at least its odd half.
    """
    metric = metric.astype(np.float32)
    metric = metric / np.maximum(np.linalg.norm(metric, axis=-1, keepdims=True), 1e-12)
    even = table.column % 2 == 0
    segments_n, width = table.index.shape
    a = np.full((segments_n, (width + 1) // 2), -1, dtype=np.int64)
    b = np.full((segments_n, max(width // 2, 1)), -1, dtype=np.int64)
    units = np.arange(len(metric))
    a[table.row[even], table.column[even] // 2] = units[even]
    b[table.row[~even], table.column[~even] // 2] = units[~even]
    similarity = metric[a.clip(min=0)] @ metric[b.clip(min=0)].swapaxes(1, 2)  # (segments, width_a, width_b)
    similarity = np.where((b < 0)[:, None, :], -np.inf, similarity)
    partner = similarity.argmax(axis=-1)
    best = np.where(a < 0, -np.inf, similarity.max(axis=-1))
    rank = np.argsort(np.argsort(-best, axis=-1, kind="stable"), axis=-1, kind="stable")
    chosen = (rank < remove[:, None]) & np.isfinite(best)
    source = a[chosen]
    target = np.take_along_axis(b, partner, axis=1)[chosen]
    keep = np.ones(len(metric), dtype=bool)
    keep[source] = False
    return Merge(keep, source, target)


def units_to_remove(counts: np.ndarray, original: np.ndarray, keep_after: float) -> np.ndarray:
    """Units each segment gives up so that about ``keep_after`` of its ``original`` count stays (at least one)."""
    target = np.maximum(np.round(original * keep_after), 1).astype(np.int64)
    return np.maximum(counts - target, 0)
