"""The vision tower's window attention in one call per block (training speed only)."""

from __future__ import annotations

import torch


def batched_window_attention(model) -> None:
    """Run each vision block's attention as one call over all its windows (training speed only).

    transformers' SDPA path loops over the attention windows one call at a time (hundreds per
    step here). In a training batch every window has the same length, so they stack into one
    batched call that computes exactly the same thing; other shapes take transformers' path.
    """
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    for block in model.model.visual.blocks:
        attention = block.attn
        original = attention.forward

        def forward(
            hidden_states, cu_seqlens, position_embeddings=None, *args, _self=attention, _original=original, **kwargs
        ):
            lengths = cu_seqlens[1:] - cu_seqlens[:-1]
            if position_embeddings is None or not bool((lengths == lengths[0]).all()):
                return _original(hidden_states, cu_seqlens, position_embeddings, *args, **kwargs)
            tokens = hidden_states.shape[0]
            q, k, v = _self.qkv(hidden_states).reshape(tokens, 3, _self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            q, k = apply_rotary_pos_emb_vision(q, k, *position_embeddings)
            windows = len(lengths)
            # (tokens, heads, dim) -> (windows, heads, window length, dim)
            q, k, v = (t.reshape(windows, -1, _self.num_heads, t.shape[-1]).transpose(1, 2) for t in (q, k, v))
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=_self.scaling)
            return _self.proj(out.transpose(1, 2).reshape(tokens, -1))

        attention.forward = forward
