"""The prefix cache: the KV cache of a prompt up to the end of its media, reused by later questions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from cachetools import LRUCache
from transformers import DynamicCache

from trio_backend_torch.requests import Request, RequestHook

# Inputs only the vision encoder reads: a hit drops them, so the encoder does not run.
PIXEL_INPUTS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw", "second_per_grid_ts")
MEDIA_END = "<|vision_end|>"


@dataclass(frozen=True)
class Entry:
    """Keys and values of every layer for the first ``length`` prompt tokens."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    length: int

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.layers)


def media_key(inputs: dict, prefix_ids: torch.Tensor) -> bytes:
    """A digest of the pixels the vision encoder would get, their grids, and the prompt's tokens up to the media's end."""
    digest = hashlib.blake2b(digest_size=20)
    for name in PIXEL_INPUTS:
        value = inputs.get(name)
        if isinstance(value, torch.Tensor):
            digest.update(name.encode())
            digest.update(str((tuple(value.shape), value.dtype)).encode())
            digest.update(value.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    digest.update(prefix_ids.detach().cpu().numpy().tobytes())
    return digest.digest()


class PrefixCache(RequestHook):
    """Before each request: reuse a stored prefix (a hit) or ask generate for a cache to keep (a miss)."""

    def __init__(self, model, max_bytes: int):
        self.media_end = model.tokenizer.convert_tokens_to_ids(MEDIA_END)
        self.entries: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda entry: entry.nbytes)

    def before_generate(self, model, request: Request) -> None:
        ids = request.inputs["input_ids"]
        if ids.shape[0] != 1:
            return
        ends = (ids[0] == self.media_end).nonzero()
        if not len(ends):  # text only: nothing worth keeping
            return
        length = int(ends[-1]) + 1
        key = media_key(request.inputs, ids[0, :length])
        entry = self.entries.get(key)
        config = model.model.config
        if entry is None:
            request.kwargs["cache"] = DynamicCache(config=config)
            request.state["kvreuse"] = (key, length)
            return
        # Positions as a cold run computes them (mRoPE needs the media grids), then the pixels go:
        # with positions given, generate neither runs the encoder nor reads stale rope deltas.
        position_ids = model.model._prepare_position_ids_for_generation(ids, dict(request.inputs))
        for name in PIXEL_INPUTS:
            request.inputs.pop(name, None)
        request.inputs["position_ids"] = position_ids
        request.kwargs["cache"] = DynamicCache(ddp_cache_data=entry.layers, config=config)
        request.stats.cache_hit = "prefix"

    def after_generate(self, model, request: Request) -> None:
        stored = request.state.get("kvreuse")
        if stored is None:
            return
        key, length = stored
        cache = request.kwargs["cache"]
        # Copies: a slice would keep the whole request's cache (answer included) alive.
        layers = tuple(
            (layer.keys[..., :length, :].clone(), layer.values[..., :length, :].clone()) for layer in cache.layers
        )
        entry = Entry(layers, length)
        if entry.nbytes <= self.entries.maxsize:
            self.entries[key] = entry

    def close(self) -> None:
        self.entries.clear()
