"""Several questions on one cached media prefix (Qwen-VL, torch), decoded together as one batch.

After the request hooks ran, each question is the same cached prefix (the media) plus its own
tokens. One ``generate`` call takes them all: the prefix's cache is shared (a view repeated
over the batch, no copy), each question's tokens are right-aligned after it, and the gap
between them is padding that the attention mask hides. Positions are each question's own,
as it would have had alone.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from trio_core.generation import Request


def batch_inputs(requests: list[Request], prefix: int, pad_token_id: int, config) -> tuple[dict, DynamicCache]:
    """The inputs and cache of one ``generate`` call for every request on the same cached prefix of ``prefix`` tokens."""
    rows = len(requests)
    tails = [request.inputs["input_ids"].shape[1] - prefix for request in requests]
    length = prefix + max(tails)
    first = requests[0].inputs
    device = first["input_ids"].device
    ids = torch.full((rows, length), pad_token_id, dtype=first["input_ids"].dtype, device=device)
    mask = torch.zeros((rows, length), dtype=torch.long, device=device)
    positions = torch.zeros((4, rows, length), dtype=first["position_ids"].dtype, device=device)
    types = torch.zeros((rows, length), dtype=first["mm_token_type_ids"].dtype, device=device)
    for row, (request, tail) in enumerate(zip(requests, tails, strict=True)):  # a few questions, not tokens
        start = length - tail
        inputs = request.inputs
        for target, source in ((ids, inputs["input_ids"]), (types, inputs["mm_token_type_ids"])):
            target[row, :prefix], target[row, start:] = source[0, :prefix], source[0, prefix:]
        own = inputs["position_ids"][:, 0]
        positions[:, row, :prefix], positions[:, row, start:] = own[:, :prefix], own[:, prefix:]
        positions[:, row, prefix:start] = own[:, prefix : prefix + 1]  # padding: hidden by the mask anyway
        mask[row, :prefix], mask[row, start:] = 1, 1
    positions[0] = torch.arange(length, device=device)
    shared = [
        (keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1)) for keys, values in requests[0].reused.layers
    ]
    cache = DynamicCache(ddp_cache_data=shared, config=config)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "mm_token_type_ids": types}, cache
