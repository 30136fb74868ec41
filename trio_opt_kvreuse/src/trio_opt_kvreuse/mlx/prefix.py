"""The prefix cache on mlx-vlm: the KV caches of a prompt up to the end of its media, reused by later questions
(the kinds of hit: ``trio_opt_kvreuse.store``).

A miss runs the vision tower and the prefix through mlx-vlm's own model once, into mlx-vlm KV caches, and keeps
their states; every request (the first one too) then gives ``generate_step`` only the question's tokens on a
fresh cache holding those states. mlx-vlm's Qwen-VL language model slices the explicit mRoPE positions (the
whole prompt's, from trio's Qwen family) at the cache's offset, so the question keeps a cold run's positions,
and decoding goes on from the rope deltas passed with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np
from mlx_vlm.models.cache import make_prompt_cache

from trio_core.generation import Request

from ..store import PrefixHook

# What the vision tower reads; gone from a request whose prefix is cached.
MEDIA_INPUTS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw")


@dataclass
class Entry:
    """Each layer's keys and values for the first ``length`` prompt tokens, and the frames they saw."""

    layers: tuple[tuple[mx.array, mx.array], ...]
    thumbnails: np.ndarray | None  # (frames, 64, 64, 3), for similar-frame hits
    reuses: int = 0

    @property
    def length(self) -> int:
        return self.layers[0][0].shape[2]

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for layer in self.layers for array in layer)


def encoder_inputs(inputs: dict, frames: tuple):
    """The encoder's inputs to hash (`media_key`): all but the pixels when the frames stand for them."""
    for name in MEDIA_INPUTS:
        value = inputs.get(name)
        if isinstance(value, mx.array) and (not frames or not name.startswith("pixel_values")):
            yield f"{name} {value.shape} {value.dtype}", np.asarray(value).tobytes()


class PrefixCache(PrefixHook):
    """A request's media prefix comes from the cache (a hit) or is computed once and kept (a miss)."""

    def before_encode(self, model, request: Request) -> None:
        inputs = request.inputs
        if "position_ids" not in inputs:  # trio lays out the positions a question needs
            return
        found = self.look_up(request, np.asarray(inputs["input_ids"]), encoder_inputs(inputs, request.frames))
        if found is not None and found.entry is not None:
            reuse(model, request, found.entry)

    def before_generate(self, model, request: Request) -> None:
        """A miss: run the vision tower and the prefix once, keep their KV states, then go on as a hit."""
        miss = request.state.get("kvreuse")
        if miss is None:
            return
        inputs, length = request.inputs, miss.length
        prefix_ids = inputs["input_ids"][:, :length]
        media = {name: inputs[name] for name in MEDIA_INPUTS if name in inputs}
        vlm = model.model
        embedded = vlm.get_input_embeddings(prefix_ids, media.pop("pixel_values", None), **media)
        cache = make_prompt_cache(vlm.language_model)
        for layer in cache:  # sized to the prefix: its states are then the cache's own arrays, not views of more
            layer.step = length
        vlm.language_model(
            prefix_ids,
            embedded.inputs_embeds,
            cache=cache,
            position_ids=inputs["position_ids"][..., :length],
            rope_deltas=inputs["rope_deltas"],
        )
        layers = tuple(layer.state for layer in cache)
        mx.eval(layers)
        entry = Entry(layers, miss.thumbnails)
        self.store.keep(miss.key, miss.prompt, entry)
        reuse(model, request, entry)


def reuse(model, request: Request, entry: Entry) -> None:
    """Give ``generate_step`` the question's tokens on a fresh cache holding the entry's states.

    The entry's arrays are never written: a cache filled to its capacity grows into new arrays on its first
    update (mlx-vlm's ``KVCache.update_and_fetch``), and the states kept are exactly that full.
    """
    inputs = request.inputs
    for name in MEDIA_INPUTS:
        inputs.pop(name, None)
    inputs["input_ids"] = inputs["input_ids"][:, entry.length :]
    cache = make_prompt_cache(model.model.language_model)
    for layer, state in zip(cache, entry.layers, strict=True):
        layer.state = state
    request.kwargs["prompt_cache"] = cache
    request.reused = entry
