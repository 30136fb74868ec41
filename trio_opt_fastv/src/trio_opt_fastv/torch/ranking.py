"""Which visual tokens to keep: the algorithm, free of any model's glue (plain tensors in, indices out)."""

from __future__ import annotations

import math

import torch


def attention_received(queries: torch.Tensor, keys: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean attention each key gets from the query rows, over heads and rows: ``(batch, keys)``.

    ``queries``: ``(batch, heads, n, dim)`` at sequence positions ``rows`` (n,); ``keys``:
    ``(batch, kv_heads, length, dim)``, already rotated like the queries. Grouped-query heads
    share their key head (no copy of the keys); each row sees the keys up to its own position.
    """
    batch, heads, n, dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    grouped = queries.reshape(batch, kv_heads, heads // kv_heads, n, dim).float()
    scores = grouped @ keys[:, :, None].float().transpose(-1, -2) / math.sqrt(dim)  # (b, kv, g, n, length)
    future = torch.arange(length, device=keys.device)[None, :] > rows[:, None]  # (n, length)
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    return weights.mean(dim=(1, 2, 3))


def tokens_to_keep(received: torch.Tensor, visual: torch.Tensor, drop: float) -> torch.Tensor:
    """Sorted positions to keep: every non-visual one, and the visual ones that received the most attention.

    ``received``: ``(length,)``; ``visual``: positions of the visual tokens; ``drop``: the
    share of them to remove (rounded down, so ``drop=0`` keeps everything).
    """
    dropped = int(len(visual) * drop)
    keep = torch.ones_like(received, dtype=torch.bool)
    if dropped:
        lowest = received[visual].topk(dropped, largest=False).indices
        keep[visual[lowest]] = False
    return keep.nonzero()[:, 0]
