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
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from cachetools import LRUCache
from transformers import DynamicCache

from trio_backend_torch.qwen import PIXEL_INPUTS, prompt_positions, renumber
from trio_core.filters import largest_block_change, thumbnail
from trio_core.generation import Batch, Request, RequestHook

from .batching import batch_inputs

MEDIA_END = "<|vision_end|>"
ANCHORS = 8  # similar-frame candidates kept per prompt prefix
# The prefix as the LLM got it (after any earlier stage changed it, e.g. ToMe's fewer tokens).
PREFIX_INPUTS = ("input_ids", "mm_token_type_ids", "position_ids")


@dataclass
class Entry:
    """Keys and values of every layer for the first ``length`` prompt tokens, and the frames they saw."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    inputs: dict[str, torch.Tensor]  # PREFIX_INPUTS for the cached tokens
    prompt_key: bytes  # the prompt up to the media's end, without the pixels
    thumbnails: np.ndarray | None  # (frames, 64, 64, 3), for similar-frame hits
    reuses: int = 0

    @property
    def length(self) -> int:
        """Prompt tokens cached."""
        return self.layers[0][0].shape[-2]

    @property
    def nbytes(self) -> int:
        tensors = [tensor for layer in self.layers for tensor in layer] + list(self.inputs.values())
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def prompt_key(prefix_ids: torch.Tensor) -> bytes:
    """A digest of the prompt's tokens up to the media's end."""
    return hashlib.blake2b(prefix_ids.detach().cpu().numpy().tobytes(), digest_size=20).digest()


def media_key(inputs: dict, frames: tuple, prompt: bytes) -> bytes:
    """A digest of the media's pixels, their grids and timing, and ``prompt`` (a `prompt_key`).

    The pixels are the frames' own 8-bit RGB when the request has them (the processor turns
    them into the encoder's input the same way every time, and hashing them is several times
    cheaper than hashing its float patches), else the encoder's input itself.
    """
    digest = hashlib.blake2b(prompt, digest_size=20)
    for frame in frames:
        digest.update(str(frame.image.shape).encode())
        digest.update(np.ascontiguousarray(frame.image).tobytes())
    for name in PIXEL_INPUTS:
        value = inputs.get(name)
        if isinstance(value, torch.Tensor) and (not frames or not name.startswith("pixel_values")):
            digest.update(name.encode())
            digest.update(str((tuple(value.shape), value.dtype)).encode())
            digest.update(value.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return digest.digest()


class PrefixCache(RequestHook):
    """A request's media prefix comes from the cache (a hit) or is computed once and kept (a miss).

    Either way generate then runs only the question on top of the cached prefix, so a first
    question and a later one about the same media compute exactly the same thing; and
    questions on the very same cached prefix (a watch's conditions about one frame) decode
    together, as one batch.
    """

    def __init__(self, model, max_bytes: int, similar_threshold: float = 0.0, similar_max_reuses: int = 0):
        self.media_end = model.tokenizer.convert_tokens_to_ids(MEDIA_END)
        self.entries: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda entry: entry.nbytes)
        self.similar_threshold = similar_threshold
        self.similar_max_reuses = similar_max_reuses
        self.anchors: dict[bytes, deque[bytes]] = {}  # prompt key -> keys of its most recent entries

    def before_encode(self, model, request: Request) -> None:
        ids = request.inputs["input_ids"]
        if ids.shape[0] != 1:
            return
        ends = (ids[0] == self.media_end).nonzero()
        if not len(ends):  # text only: nothing worth keeping
            return
        length = int(ends[-1]) + 1
        tail = ids.shape[1] - length  # the question: the tokens after the media's end
        prompt = prompt_key(ids[0, :length])
        key = media_key(request.inputs, request.frames, prompt)
        entry, hit = self.entries.get(key), "prefix"
        thumbnails = None
        if entry is None and self.similar_threshold > 0 and request.frames:
            thumbnails = np.stack([thumbnail(frame, colour=True) for frame in request.frames])
            entry, hit = self.similar_entry(prompt, thumbnails), "similar"
        if entry is None:
            request.state["kvreuse"] = (key, tail, prompt, thumbnails)
            return
        entry.reuses += hit == "similar"
        request.stats.cache_hit = hit
        reuse(model, request, entry, tail)

    def before_generate(self, model, request: Request) -> None:
        """A miss: compute the prefix's cache (the encoder runs here) and keep it, then go on as a hit."""
        stored = request.state.get("kvreuse")
        if stored is None:
            return
        key, tail, prompt, thumbnails = stored
        inputs = request.inputs
        prompt_positions(model, inputs)
        prefix = {name: inputs[name][..., :-tail] for name in PREFIX_INPUTS if name in inputs}
        media = {name: inputs[name] for name in (*PIXEL_INPUTS, "mm_encoder_outputs") if name in inputs}
        cache = DynamicCache(config=model.model.config)
        model.model.model(**prefix, **media, cache=cache, use_cache=True)
        entry = Entry(tuple((layer.keys, layer.values) for layer in cache.layers), prefix, prompt, thumbnails)
        if entry.nbytes <= self.entries.maxsize:
            self.entries[key] = entry
            if thumbnails is not None:
                self.anchors.setdefault(prompt, deque(maxlen=ANCHORS)).append(key)
        reuse(model, request, entry, tail)

    def batch(self, model, requests: list[Request]) -> Batch | None:
        """Requests on the very same cached prefix run as one ``generate`` call (see batching.py)."""
        entry = requests[0].reused
        if entry is None or any(request.reused is not entry for request in requests):
            return None
        inputs, cache = batch_inputs(requests, entry.length, requests[0].kwargs["pad_token_id"], model.model.config)
        return Batch(requests, inputs, {**requests[0].kwargs, "cache": cache})

    def similar_entry(self, prompt: bytes, thumbnails: np.ndarray) -> Entry | None:
        """The cached anchor this stream's new frames are close enough to, if any (the anchor is then refreshed).

        Only the most recent anchors of this prompt are compared (``ANCHORS``, a few cameras' worth):
        comparing every cached entry would make each miss slower as the cache fills.
        """
        recent = self.anchors.get(prompt, ())
        for key in reversed(recent):
            entry = self.entries.get(key)
            if entry is None or entry.thumbnails is None or len(entry.thumbnails) != len(thumbnails):
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

    def close(self) -> None:
        self.entries.clear()
        self.anchors.clear()


def reuse(model, request: Request, entry: Entry, tail: int) -> None:
    """Give generate the cached prefix and this request's last ``tail`` tokens (the question).

    The question's positions are the ones a cold run gives it (mRoPE needs the media grids, so
    they are computed before the pixels go); with positions and a cache given, generate neither
    runs the encoder nor reads stale rope deltas. The request's cache is its own copy; the
    entry's tensors are never written.
    """
    inputs = request.inputs
    prompt_positions(model, inputs)
    for name in (*PIXEL_INPUTS, "mm_encoder_outputs"):
        inputs.pop(name, None)
    for name in PREFIX_INPUTS:
        if name in inputs and name in entry.inputs:
            inputs[name] = torch.cat([entry.inputs[name], inputs[name][..., -tail:]], dim=-1)
    inputs["position_ids"] = renumber(inputs["position_ids"])
    if isinstance(inputs.get("attention_mask"), torch.Tensor):
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    request.kwargs["cache"] = DynamicCache(ddp_cache_data=entry.layers, config=model.model.config)
    request.reused = entry
