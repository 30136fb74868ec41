"""The cached prefixes and how a request finds one: the part of kvreuse no framework is in.

Two kinds of hit:

- ``prefix``: the same pixels and the same prompt up to the media's end. Exact: the answer
  is the cold run's, token for token.
- ``similar``: a new frame of a stream that differs from a cached anchor frame by less than
  ``similar_threshold`` (the largest 1/64-of-the-picture block change, as trio's dedup filter
  measures it, but in colour: a red object on a grey of its brightness must count) and has the
  same prompt up to the media's end. Approximate: the answer is about the anchor. Always
  compared with the anchor, never with the previous frame, so drift cannot add up; after
  ``similar_max_reuses`` hits the anchor is recomputed from the current frame.

Each backend's entry holds its own tensors; the store needs only ``nbytes``, ``thumbnails``
(``(frames, 64, 64, 3)`` or None) and a ``reuses`` counter from it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache

from trio_core.filters import largest_block_change, thumbnail
from trio_core.generation import Request, RequestHook, request_hooks

MEDIA_END = "<|vision_end|>"  # the Qwen-VL token that closes an image or a video: the prefix ends with it
ANCHORS = 8  # similar-frame candidates kept per prompt prefix


def prompt_key(prefix_ids: np.ndarray) -> bytes:
    """A digest of the prompt's tokens up to the media's end."""
    return hashlib.blake2b(np.ascontiguousarray(prefix_ids).tobytes(), digest_size=20).digest()


def media_key(prompt: bytes, frames: tuple, encoder_inputs: Iterable[tuple[str, bytes]]) -> bytes:
    """A digest of the media's pixels and ``prompt`` (a `prompt_key`).

    The pixels are the frames' own 8-bit RGB when the request has them (the processor turns
    them into the encoder's input the same way every time, and hashing them is several times
    cheaper than hashing its float patches), else ``encoder_inputs``: (a description of an
    input: its name, shape and type; its bytes), read lazily, with the grids and timing
    always among them.
    """
    digest = hashlib.blake2b(prompt, digest_size=20)
    for frame in frames:
        digest.update(str(frame.image.shape).encode())
        digest.update(np.ascontiguousarray(frame.image).tobytes())
    for description, data in encoder_inputs:
        digest.update(description.encode())
        digest.update(data)
    return digest.digest()


class PrefixStore:
    """Cached prefixes by media key, LRU within a byte budget, and each prompt's recent anchor frames."""

    def __init__(self, max_bytes: int, similar_threshold: float = 0.0, similar_max_reuses: int = 0):
        self.entries: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda entry: entry.nbytes)
        self.similar_threshold = similar_threshold
        self.similar_max_reuses = similar_max_reuses
        self.anchors: dict[bytes, deque[bytes]] = {}  # prompt key -> keys of its most recent entries

    def find(self, key: bytes, prompt: bytes, frames: tuple) -> tuple[Any, str | None, np.ndarray | None]:
        """``(entry, hit, thumbnails)``: the entry for these media (``hit``: "prefix" or "similar"), or None and
        the frames' thumbnails for `keep` when similar-frame hits are on."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry, "prefix", None
        thumbnails = None
        if self.similar_threshold > 0 and frames:
            thumbnails = np.stack([thumbnail(frame, colour=True) for frame in frames])
            entry = self.similar_entry(prompt, thumbnails)
            if entry is not None:
                entry.reuses += 1
                return entry, "similar", thumbnails
        return None, None, thumbnails

    def keep(self, key: bytes, prompt: bytes, entry) -> None:
        """Cache a computed prefix (unless it alone is over the budget); with thumbnails, as an anchor too."""
        if entry.nbytes > self.entries.maxsize:
            return
        self.entries[key] = entry
        if entry.thumbnails is not None:
            self.anchors.setdefault(prompt, deque(maxlen=ANCHORS)).append(key)

    def similar_entry(self, prompt: bytes, thumbnails: np.ndarray):
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

    def clear(self) -> None:
        self.entries.clear()
        self.anchors.clear()


@dataclass(frozen=True)
class Lookup:
    """A request's prompt split at its media's end, and its cached entry (None: a miss, which the request
    carries from ``before_encode`` to ``before_generate`` in ``request.state["kvreuse"]``)."""

    key: bytes  # its media key, to keep the computed prefix under
    prompt: bytes  # its prompt key
    thumbnails: np.ndarray | None
    length: int  # prompt tokens up to and with the media's end, as the processor gave them
    tail: int  # the question: the tokens after the media's end (an earlier stage may shorten the media)
    entry: Any = None


class PrefixHook(RequestHook):
    """The prefix cache as a request hook: how a request finds its prefix, the same on every backend; each
    backend's subclass computes a missing prefix and puts a request on a cached one in its framework."""

    def __init__(self, model, settings):
        self.media_end = model.tokenizer.convert_tokens_to_ids(MEDIA_END)
        self.store = PrefixStore(int(settings.max_mb * 2**20), settings.similar_threshold, settings.similar_max_reuses)

    @classmethod
    def apply(cls, model, settings) -> None:
        """Give the loaded model a prefix cache bounded by ``settings.max_mb`` (a backend's ``apply``)."""
        request_hooks(model, "kvreuse").append(cls(model, settings))

    @property
    def entries(self):
        """The cached prefixes (an LRU cache by media key; its ``currsize`` is in bytes)."""
        return self.store.entries

    def look_up(self, request: Request, ids: np.ndarray, encoder_inputs: Iterable[tuple[str, bytes]]) -> Lookup | None:
        """Where a one-row prompt ``ids`` (1, length) with media stands in the cache; None for any other prompt
        (nothing worth keeping)."""
        if ids.shape[0] != 1:
            return None
        ends = np.flatnonzero(ids[0] == self.media_end)
        if not len(ends):  # text only: nothing worth keeping
            return None
        length = int(ends[-1]) + 1
        prompt = prompt_key(ids[0, :length])
        key = media_key(prompt, request.frames, encoder_inputs)
        entry, hit, thumbnails = self.store.find(key, prompt, request.frames)
        found = Lookup(key, prompt, thumbnails, length, ids.shape[1] - length, entry)
        if entry is None:
            request.state["kvreuse"] = found
        else:
            request.stats.cache_hit = hit
        return found

    def close(self) -> None:
        self.store.clear()
