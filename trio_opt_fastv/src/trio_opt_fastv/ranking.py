"""Which visual tokens to keep: the algorithm, free of any model's glue and of any framework (numpy in, indices
out), shared by the torch and mlx implementations. The arrays are small (a question's rows against one
layer's keys), so a backend hands them over as numpy."""

from __future__ import annotations

import math

import numpy as np


def attention_received(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean attention each key gets from the query rows, over heads and rows: ``(batch, keys)``.

    ``queries``: ``(batch, heads, n, dim)`` at sequence positions ``rows`` (n,); ``keys``:
    ``(batch, kv_heads, length, dim)``, already rotated like the queries. Grouped-query heads
    share their key head (no copy of the keys); each row sees the keys up to its own position.
    """
    batch, heads, n, dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    grouped = queries.reshape(batch, kv_heads, heads // kv_heads, n, dim).astype(np.float32)
    scores = grouped @ keys[:, :, None].astype(np.float32).swapaxes(-1, -2) / math.sqrt(dim)  # (b, kv, g, n, length)
    future = np.arange(length)[None, :] > np.asarray(rows)[:, None]  # (n, length)
    scores = np.where(future, -np.inf, scores)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights.mean(axis=(1, 2, 3))


def tokens_to_keep(received: np.ndarray, visual: np.ndarray, drop: float) -> np.ndarray:
    """Sorted positions to keep: every non-visual one, and the visual ones that received the most attention.

    ``received``: ``(length,)``; ``visual``: positions of the visual tokens; ``drop``: the
    share of them to remove (rounded down, so ``drop=0`` keeps everything).
    """
    visual = np.asarray(visual)
    dropped = int(len(visual) * drop)
    keep = np.ones(len(received), dtype=bool)
    if dropped:
        lowest = np.argsort(received[visual], kind="stable")[:dropped]
        keep[visual[lowest]] = False
    return np.flatnonzero(keep)
