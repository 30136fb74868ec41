"""FastV on a transformers Qwen-VL model: torch hooks around one decoder layer, armed per request.

- before ``generate`` (a request hook): note where the visual tokens are and which rows are the
  text after them;
- layer K, on the prefill only: its input is captured on the way in; on the way out the
  question's rows are scored against layer K's cached keys (`ranking.attention_received`),
  the lowest visual tokens leave the hidden states and the cache of layers 0..K;
- layers after K: their rotary cos/sin (and a mask, if any) are cut to the tokens kept, so
  every kept token keeps its own mRoPE position.

When the media's prefix comes from a cache (kvreuse), the prefill computes only the
question: the visual tokens are already in the cache of every layer. The question's rows
still rank them at layer K, and the ones dropped leave this request's cache (layers 0..K
now, the later layers' before they take the question), so the question's later layers
and every decoded token attend to the kept ones only. The cached prefix itself is shared
with other questions and never changes.
"""

from __future__ import annotations

import sys

import torch

from trio_core.generation import Request, RequestHook

from ..ranking import attention_received, tokens_to_keep


class FastV(RequestHook):
    batchable = False  # armed with one request's positions

    def __init__(self, model, layer: int, drop: float):
        self.layer, self.drop = layer, drop
        self.visual_ids = torch.tensor(sorted(model.visual_token_ids))
        layers = model.model.model.language_model.layers
        if not 0 <= layer < len(layers) - 1:
            raise ValueError(f"layer must be between 0 and {len(layers) - 2} for this model (it has {len(layers)})")
        self.armed: dict | None = None
        self.handles = [
            layers[layer].register_forward_pre_hook(self.capture, with_kwargs=True),
            layers[layer].register_forward_hook(self.prune, with_kwargs=True),
            *(later.register_forward_pre_hook(self.follow, with_kwargs=True) for later in layers[layer + 1 :]),
        ]
        attention = layers[layer].self_attn
        self.rotate = sys.modules[type(attention).__module__].apply_rotary_pos_emb

    def before_generate(self, model, request: Request) -> None:
        ids = request.inputs["input_ids"]
        self.armed = None
        if ids.shape[0] != 1:
            return
        visual = torch.isin(ids[0], self.visual_ids.to(ids.device)).nonzero()[:, 0]
        if not len(visual) or int(visual[-1]) + 1 >= ids.shape[1]:
            return
        rows = torch.arange(int(visual[-1]) + 1, ids.shape[1], device=ids.device)
        self.armed = {"length": ids.shape[1], "visual": visual, "rows": rows, "stats": request.stats}

    def after_generate(self, model, request: Request) -> None:
        self.armed = None

    @staticmethod
    def hidden(args, kwargs) -> torch.Tensor:
        return args[0] if args else kwargs["hidden_states"]

    def capture(self, module, args, kwargs):
        armed = self.armed
        if armed is None or "keep" in armed:
            return
        cached = kwargs["cache"].layers[self.layer].get_seq_length() if kwargs.get("cache") is not None else 0
        if self.hidden(args, kwargs).shape[1] == armed["length"] - cached:  # the prefill, not a decoding step
            armed["input"] = self.hidden(args, kwargs)
            armed["rotary"] = kwargs["position_embeddings"]
            armed["cached"] = cached

    def prune(self, module, args, kwargs, output):
        armed = self.armed
        if armed is None or "input" not in armed:
            return output
        hidden = armed.pop("input")
        cos, sin = armed.pop("rotary")
        cached = armed["cached"]
        rows = armed["rows"]  # positions in the whole prompt; hidden holds those from `cached` on
        attention = module.self_attn
        queries = attention.q_proj(module.input_layernorm(hidden[:, rows - cached]))
        queries = queries.view(hidden.shape[0], len(rows), -1, attention.head_dim).transpose(1, 2)
        queries, _ = self.rotate(queries, queries, cos[:, rows - cached], sin[:, rows - cached])
        cache = kwargs["cache"]
        keys = cache.layers[self.layer].keys
        received = attention_received(numpy(queries), numpy(keys), rows.cpu().numpy())[0]
        keep = torch.from_numpy(tokens_to_keep(received, armed["visual"].cpu().numpy(), self.drop)).to(keys.device)
        for layer in cache.layers[: self.layer + 1]:
            layer.keys = layer.keys.index_select(2, keep)
            layer.values = layer.values.index_select(2, keep)
        if cached:  # later layers hold the cached prefix only; they add this prefill's tokens themselves
            in_prefix = keep[keep < cached]
            for layer in cache.layers[self.layer + 1 :]:
                layer.keys = layer.keys.index_select(2, in_prefix)
                layer.values = layer.values.index_select(2, in_prefix)
        armed["keep"] = keep
        armed["rows_kept"] = keep[keep >= cached] - cached  # of this prefill's tokens
        visual = len(armed["visual"])  # what reaches the LLM: after any earlier optimizer
        armed["stats"].visual_token_steps.append(("fastv", visual, visual - (armed["length"] - len(keep))))
        return output[:, armed["rows_kept"]]

    def follow(self, module, args, kwargs):
        armed = self.armed
        if armed is None or "keep" not in armed:
            return None
        keep, rows = armed["keep"], armed["rows_kept"]
        cos, sin = kwargs["position_embeddings"]
        if cos.shape[-2] != armed["length"] - armed["cached"] or self.hidden(args, kwargs).shape[1] != len(rows):
            return None  # a decoding step
        kwargs["position_embeddings"] = (cos[:, rows], sin[:, rows])
        if isinstance(kwargs.get("position_ids"), torch.Tensor):
            kwargs["position_ids"] = kwargs["position_ids"][..., rows]
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):  # (batch, heads, this prefill's tokens, every token)
            kwargs["attention_mask"] = mask[..., rows, :][..., keep]
        return args, kwargs

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def numpy(tensor: torch.Tensor):
    """A tensor as float32 numpy, for the shared ranking (a question's rows and one layer's keys: small)."""
    return tensor.detach().float().cpu().numpy()
