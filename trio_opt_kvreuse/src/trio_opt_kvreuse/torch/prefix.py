"""The prefix cache on transformers: the KV cache of a prompt up to the end of its media, reused by later
questions (the kinds of hit: ``trio_opt_kvreuse.store``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache

from trio_backend_torch.qwen import PIXEL_INPUTS, prompt_positions, renumber
from trio_core.generation import Batch, Request

from ..store import PrefixHook
from .batching import batch_inputs

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


def encoder_inputs(inputs: dict, frames: tuple):
    """The encoder's inputs to hash (`media_key`): all but the pixels when the frames stand for them."""
    for name in PIXEL_INPUTS:
        value = inputs.get(name)
        if isinstance(value, torch.Tensor) and (not frames or not name.startswith("pixel_values")):
            description = f"{name} {tuple(value.shape)} {value.dtype}"
            yield description, value.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes()


class PrefixCache(PrefixHook):
    """A request's media prefix comes from the cache (a hit) or is computed once and kept (a miss).

    Either way generate then runs only the question on top of the cached prefix, so a first
    question and a later one about the same media compute exactly the same thing; and
    questions on the very same cached prefix (a watch's conditions about one frame) decode
    together, as one batch.
    """

    def before_encode(self, model, request: Request) -> None:
        ids = request.inputs["input_ids"]
        found = self.look_up(request, ids.detach().cpu().numpy(), encoder_inputs(request.inputs, request.frames))
        if found is not None and found.entry is not None:
            reuse(model, request, found.entry, found.tail)

    def before_generate(self, model, request: Request) -> None:
        """A miss: compute the prefix's cache (the encoder runs here) and keep it, then go on as a hit."""
        miss = request.state.get("kvreuse")
        if miss is None:
            return
        inputs, tail = request.inputs, miss.tail
        prompt_positions(model, inputs)
        prefix = {name: inputs[name][..., :-tail] for name in PREFIX_INPUTS if name in inputs}
        media = {name: inputs[name] for name in (*PIXEL_INPUTS, "mm_encoder_outputs") if name in inputs}
        cache = DynamicCache(config=model.model.config)
        model.model.model(**prefix, **media, cache=cache, use_cache=True)
        entry = Entry(tuple((layer.keys, layer.values) for layer in cache.layers), prefix, miss.prompt, miss.thumbnails)
        self.store.keep(miss.key, miss.prompt, entry)
        reuse(model, request, entry, tail)

    def batch(self, model, requests: list[Request]) -> Batch | None:
        """Requests on the very same cached prefix run as one ``generate`` call (see batching.py)."""
        entry = requests[0].reused
        if entry is None or any(request.reused is not entry for request in requests):
            return None
        inputs, cache = batch_inputs(requests, entry.length, requests[0].kwargs["pad_token_id"], model.model.config)
        return Batch(requests, inputs, {**requests[0].kwargs, "cache": cache})


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
