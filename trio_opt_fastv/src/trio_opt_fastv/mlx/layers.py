"""FastV on mlx-vlm's Qwen-VL language model: layer K and the layers after it wrapped, armed per request.

MLX modules have no forward hooks, so the decoder layers in mlx-vlm's list are replaced by wrappers
that call them (and put back on close):

- before anything runs (``before_encode``, ahead of a cache that trims the prompt to the question):
  note where the visual tokens are and which rows are the text after them; before generating, ask
  ``generate_step`` for one prefill forward (no chunks), so layer K sees every question row at once;
- layer K, on the prefill only: the question's rows are scored against layer K's cached keys
  (the shared ``trio_opt_fastv.ranking``), the lowest visual tokens leave the hidden states and the
  KV caches of layers 0..K; the language model's rope deltas grow by the tokens dropped, because
  mlx-vlm places each decoded token at the first cache's length plus those deltas;
- layers after K: their mRoPE positions (and a mask, if any) are cut to the tokens kept, so every
  kept token keeps its own position; the last one hands on only the last row, all generate_step reads
  (mlx-vlm's chunked prefill spares the LM head the other rows the same way).

When the media's prefix comes from a cache (kvreuse), the prefill computes only the question: the
visual tokens are already in every layer's cache. The question's rows still rank them at layer K,
and the ones dropped leave this request's caches (layers 0..K now, the later layers' before they
take the question). The cached prefix itself is shared with other questions and never changes:
pruning makes new arrays.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_vlm.models.cache import make_prompt_cache

from trio_core.generation import Request, RequestHook

from ..ranking import attention_received, tokens_to_keep


class FastV(RequestHook):
    batchable = False  # armed with one request's positions

    def __init__(self, model, layer: int, drop: float):
        self.layer, self.drop = layer, drop
        self.language = model.model.language_model
        self.layers = self.language.model.layers
        if not 0 <= layer < len(self.layers) - 1:
            raise ValueError(
                f"layer must be between 0 and {len(self.layers) - 2} for this model (it has {len(self.layers)})"
            )
        self.visual_ids = np.array(sorted(model.visual_token_ids))
        self.armed: dict | None = None
        self.originals = list(self.layers)
        self.layers[layer] = Pruning(self.layers[layer], self)
        for index in range(layer + 1, len(self.layers)):
            self.layers[index] = Following(self.layers[index], self)

    def before_encode(self, model, request: Request) -> None:
        # Before a cache hook can trim the prompt to the question: where its visual tokens were.
        self.armed = self.arm(request)

    def before_generate(self, model, request: Request) -> None:
        if request.reused is None:  # not on a cached prefix: the prompt as it reaches the model (merged by ToMe)
            self.armed = self.arm(request)
        if self.armed is None:
            return
        request.kwargs["prefill_step_size"] = None
        # Every layer's cache, for layer K to prune: a fresh one for generate_step, unless a cache hook (in this
        # phase or a later one) gives it its own; layer K reads whichever is there when it runs.
        if request.kwargs.get("prompt_cache") is None:
            request.kwargs["prompt_cache"] = make_prompt_cache(self.language)
        self.armed["request"] = request

    def arm(self, request: Request) -> dict | None:
        """Where the prompt's visual tokens are and which rows are the text after them (None: nothing to prune)."""
        ids = np.asarray(request.inputs["input_ids"])
        if ids.shape[0] != 1 or "position_ids" not in request.inputs:
            return None
        visual = np.flatnonzero(np.isin(ids[0], self.visual_ids))
        if not len(visual) or visual[-1] + 1 >= ids.shape[1]:
            return None
        rows = np.arange(visual[-1] + 1, ids.shape[1])
        return {"length": ids.shape[1], "visual": visual, "rows": rows, "stats": request.stats}

    def after_generate(self, model, request: Request) -> None:
        self.armed = None

    def prune(self, layer: nn.Module, hidden: mx.array, cache, position_ids: mx.array, output: mx.array) -> mx.array:
        """After layer K's prefill: rank the visual tokens by the question's attention, drop the lowest."""
        armed = self.armed
        cached = armed.pop("cached")
        rows = armed["rows"]  # positions in the whole prompt; hidden holds those from `cached` on
        local = mx.array(rows - cached)
        attention = layer.self_attn
        queries = attention.q_proj(layer.input_layernorm(hidden[:, local]))
        queries = queries.reshape(hidden.shape[0], len(rows), attention.n_heads, -1).transpose(0, 2, 1, 3)
        queries, _ = attention.rotary_emb.apply_rotary(queries, queries, position_ids[..., local])
        keys = cache.keys[..., : cache.offset, :]
        received = attention_received(numpy(queries), numpy(keys), rows)[0]
        keep = tokens_to_keep(received, armed["visual"], self.drop)
        caches = armed["request"].kwargs["prompt_cache"]
        for layer_cache in caches[: self.layer + 1]:
            layer_cache.state = take(layer_cache, keep)
        if cached:  # later layers hold the cached prefix only; they add this prefill's tokens themselves
            in_prefix = keep[keep < cached]
            for layer_cache in caches[self.layer + 1 :]:
                layer_cache.state = take(layer_cache, in_prefix)
        dropped = armed["length"] - len(keep)
        self.language._rope_deltas = self.language._rope_deltas + dropped
        armed["keep"] = mx.array(keep)
        armed["rows_kept"] = mx.array(keep[keep >= cached] - cached)  # of this prefill's tokens
        visual = len(armed["visual"])  # what reaches the LLM: after any earlier optimizer
        armed["stats"].visual_token_steps.append(("fastv", visual, visual - dropped))
        return output[:, armed["rows_kept"]]

    def close(self) -> None:
        self.layers[:] = self.originals


class Wrapped(nn.Module):
    """A decoder layer in mlx-vlm's list, called through; what the model reads of it (``self_attn``) is its own."""

    def __init__(self, layer: nn.Module, hook: FastV):
        super().__init__()
        self.layer, self.hook = layer, hook

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if (layer := self.get("layer")) is None:
                raise
            return getattr(layer, name)


class Pruning(Wrapped):
    """Layer K: runs as it is, then (on an armed request's prefill) prunes through the hook."""

    def __call__(self, x, mask=None, cache=None, position_ids=None, position_embeddings=None):
        armed = self.hook.armed
        cached = cache.offset if cache is not None else 0
        prefill = (
            armed is not None
            and "keep" not in armed
            and cache is not None
            and position_ids is not None
            and x.shape[1] == armed["length"] - cached
        )
        output = self.layer(x, mask, cache, position_ids, position_embeddings)
        if not prefill:
            return output
        armed["cached"] = cached
        return self.hook.prune(self.layer, x, cache, position_ids, output)


class Following(Wrapped):
    """A layer after K: on the pruned prefill, its positions (and mask) cut to the tokens kept."""

    def __call__(self, x, mask=None, cache=None, position_ids=None, position_embeddings=None):
        armed = self.hook.armed
        if armed is None or "keep" not in armed or armed.get("prefilled") or position_ids is None:
            return self.layer(x, mask, cache, position_ids, position_embeddings)
        rows = armed["rows_kept"]
        if position_ids.shape[-1] != x.shape[1]:  # tokens were dropped: the kept ones keep their positions
            position_ids = position_ids[..., rows]
            if position_embeddings is not None:
                position_embeddings = self.layer.self_attn.rotary_emb(x, position_ids)
            if isinstance(mask, mx.array):  # (..., this prefill's tokens, every token)
                mask = mask[..., rows, :][..., armed["keep"]]
        output = self.layer(x, mask, cache, position_ids, position_embeddings)
        if self is not self.hook.layers[-1]:
            return output
        # The prefill runs in one forward (not in mlx-vlm's chunks, whose last token comes alone), and
        # generate_step reads the logits of its last row only: the LM head need not see the others.
        armed["prefilled"] = True
        return output[:, -1:]


def take(cache, keep: np.ndarray) -> tuple[mx.array, mx.array]:
    """A KV cache's keys and values at the positions ``keep``, as new arrays."""
    index = mx.array(keep)
    return cache.keys[..., : cache.offset, :][:, :, index], cache.values[..., : cache.offset, :][:, :, index]


def numpy(array: mx.array) -> np.ndarray:
    """An MLX array as float32 numpy, for the shared ranking (a question's rows and one layer's keys: small)."""
    return np.asarray(array.astype(mx.float32))
