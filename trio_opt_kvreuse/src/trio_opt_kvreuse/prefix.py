"""The prefix cache: the KV cache of a prompt up to the end of its media, reused by later questions.

Two kinds of hit:

- ``prefix``: the same pixels and the same prompt up to the media's end. Exact: the answer
  is the cold run's, token for token.
- ``similar``: a new frame of a stream that differs from a cached anchor frame by less than
  ``similar_threshold`` (the largest 1/64-of-the-picture block change, as trio's dedup filter
  measures it, but in colour: a red object on a grey of its brightness must count) and has the same prompt up to the media's end. Approximate: the answer is
  about the anchor. Always compared with the anchor, never with the previous frame, so drift
  cannot add up; after ``similar_max_reuses`` hits the anchor is recomputed from the current
  frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from cachetools import LRUCache
from transformers import DynamicCache

from trio_backend_torch.requests import Request, RequestHook
from trio_core.filters import largest_block_change, thumbnail

# Inputs only the vision encoder reads: a hit drops them, so the encoder does not run.
PIXEL_INPUTS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw", "second_per_grid_ts")
MEDIA_END = "<|vision_end|>"


@dataclass
class Entry:
    """Keys and values of every layer for the first ``length`` prompt tokens, and the frames they saw."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    length: int
    prompt_key: bytes  # the prompt up to the media's end, without the pixels
    thumbnails: np.ndarray | None  # (frames, 64, 64, 3), for similar-frame hits
    reuses: int = 0

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.layers)


def prompt_key(prefix_ids: torch.Tensor) -> bytes:
    """A digest of the prompt's tokens up to the media's end."""
    return hashlib.blake2b(prefix_ids.detach().cpu().numpy().tobytes(), digest_size=20).digest()


def media_key(inputs: dict, prompt: bytes) -> bytes:
    """A digest of the pixels the vision encoder would get, their grids, and ``prompt`` (a `prompt_key`)."""
    digest = hashlib.blake2b(prompt, digest_size=20)
    for name in PIXEL_INPUTS:
        value = inputs.get(name)
        if isinstance(value, torch.Tensor):
            digest.update(name.encode())
            digest.update(str((tuple(value.shape), value.dtype)).encode())
            digest.update(value.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return digest.digest()


class PrefixCache(RequestHook):
    """Before each request: reuse a stored prefix (a hit) or ask generate for a cache to keep (a miss)."""

    def __init__(self, model, max_bytes: int, similar_threshold: float = 0.0, similar_max_reuses: int = 0):
        self.media_end = model.tokenizer.convert_tokens_to_ids(MEDIA_END)
        self.entries: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda entry: entry.nbytes)
        self.similar_threshold = similar_threshold
        self.similar_max_reuses = similar_max_reuses

    def before_generate(self, model, request: Request) -> None:
        ids = request.inputs["input_ids"]
        if ids.shape[0] != 1:
            return
        ends = (ids[0] == self.media_end).nonzero()
        if not len(ends):  # text only: nothing worth keeping
            return
        length = int(ends[-1]) + 1
        prompt = prompt_key(ids[0, :length])
        key = media_key(request.inputs, prompt)
        entry, hit = self.entries.get(key), "prefix"
        thumbnails = None
        if entry is None and self.similar_threshold > 0 and request.frames:
            thumbnails = np.stack([thumbnail(frame, colour=True) for frame in request.frames])
            entry, hit = self.similar_entry(prompt, thumbnails), "similar"
        config = model.model.config
        if entry is None:
            request.kwargs["cache"] = DynamicCache(config=config)
            request.state["kvreuse"] = (key, length, prompt, thumbnails)
            return
        entry.reuses += hit == "similar"
        # Positions as a cold run computes them (mRoPE needs the media grids), then the pixels go:
        # with positions given, generate neither runs the encoder nor reads stale rope deltas.
        position_ids = model.model._prepare_position_ids_for_generation(ids, dict(request.inputs))
        for name in PIXEL_INPUTS:
            request.inputs.pop(name, None)
        request.inputs["position_ids"] = position_ids
        request.kwargs["cache"] = DynamicCache(ddp_cache_data=entry.layers, config=config)
        request.stats.cache_hit = hit

    def similar_entry(self, prompt: bytes, thumbnails: np.ndarray) -> Entry | None:
        """The cached anchor this stream's new frames are close enough to, if any (the anchor is then refreshed)."""
        for key, entry in list(self.entries.items()):
            if entry.prompt_key != prompt or entry.thumbnails is None or len(entry.thumbnails) != len(thumbnails):
                continue
            change = max(largest_block_change(a, b) for a, b in zip(thumbnails, entry.thumbnails, strict=True))
            if change >= self.similar_threshold:
                continue
            if entry.reuses >= self.similar_max_reuses:  # stale: recompute from the current frame
                del self.entries[key]
                return None
            self.entries[key]  # a hit is a use: move it to the recent end
            return entry
        return None

    def after_generate(self, model, request: Request) -> None:
        stored = request.state.get("kvreuse")
        if stored is None:
            return
        key, length, prompt, thumbnails = stored
        cache = request.kwargs["cache"]
        # Copies: a slice would keep the whole request's cache (answer included) alive.
        layers = tuple(
            (layer.keys[..., :length, :].clone(), layer.values[..., :length, :].clone()) for layer in cache.layers
        )
        entry = Entry(layers, length, prompt, thumbnails)
        if entry.nbytes <= self.entries.maxsize:
            self.entries[key] = entry

    def close(self) -> None:
        self.entries.clear()
