"""FastV on a transformers Qwen-VL model: torch hooks around one decoder layer, armed per request.

- before ``generate`` (a request hook): note where the visual tokens are and which rows are the
  text after them;
- layer K, on the prefill only: its input is captured on the way in; on the way out the
  question's rows are scored against layer K's cached keys (`ranking.attention_received`),
  the lowest visual tokens leave the hidden states and the cache of layers 0..K;
- layers after K: their rotary cos/sin (and a mask, if any) are cut to the tokens kept, so
  every kept token keeps its own mRoPE position.
"""

from __future__ import annotations

import sys

import torch

from trio_backend_torch.requests import Request, RequestHook

from .ranking import attention_received, tokens_to_keep


class FastV(RequestHook):
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
        if armed is not None and "keep" not in armed and self.hidden(args, kwargs).shape[1] == armed["length"]:
            armed["input"] = self.hidden(args, kwargs)
            armed["rotary"] = kwargs["position_embeddings"]

    def prune(self, module, args, kwargs, output):
        armed = self.armed
        if armed is None or "input" not in armed:
            return output
        hidden = armed.pop("input")
        cos, sin = armed.pop("rotary")
        rows = armed["rows"]
        attention = module.self_attn
        queries = attention.q_proj(module.input_layernorm(hidden[:, rows]))
        queries = queries.view(hidden.shape[0], len(rows), -1, attention.head_dim).transpose(1, 2)
        queries, _ = self.rotate(queries, queries, cos[:, rows], sin[:, rows])
        cache = kwargs["cache"]
        received = attention_received(queries, cache.layers[self.layer].keys, rows)[0]
        keep = tokens_to_keep(received, armed["visual"], self.drop)
        for layer in cache.layers[: self.layer + 1]:
            layer.keys = layer.keys.index_select(2, keep)
            layer.values = layer.values.index_select(2, keep)
        armed["keep"] = keep
        before = len(armed["visual"])
        previous = armed["stats"].visual_token_steps
        start = previous[-1][2] if previous else before
        armed["stats"].visual_token_steps.append(("fastv", start, start - (armed["length"] - len(keep))))
        return output[:, keep]

    def follow(self, module, args, kwargs):
        armed = self.armed
        if armed is None or "keep" not in armed:
            return None
        keep = armed["keep"]
        cos, sin = kwargs["position_embeddings"]
        if cos.shape[-2] != armed["length"] or self.hidden(args, kwargs).shape[1] != len(keep):
            return None
        kwargs["position_embeddings"] = (cos[:, keep], sin[:, keep])
        if isinstance(kwargs.get("position_ids"), torch.Tensor):
            kwargs["position_ids"] = kwargs["position_ids"][..., keep]
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            kwargs["attention_mask"] = mask[..., keep, :][..., keep]
        return args, kwargs

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
