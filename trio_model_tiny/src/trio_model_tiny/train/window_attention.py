"""The vision tower's window attention in one call per block (training speed only)."""

from __future__ import annotations

import torch


def batched_window_attention(model) -> None:
    """Run each vision block's attention as one call over all its windows (training speed only).

    transformers' SDPA path loops over the attention windows one call at a time (hundreds per
    step here). In a training batch every window has the same length (every image size and clip
    frame is a multiple of the 112-pixel window), and so does every frame of the full-attention
    blocks, so they stack into one batched call that computes the same thing; other shapes take
    transformers' path.

    Why not the torch backend's segment attention (trio_backend_torch.attention), which would
    batch unequal windows too: it computes the same thing (on trio-tiny's weights, the tower's
    output within 5e-6 of transformers' where windows are unequal), but it gathers the units
    into a padded table and back and always passes a mask, and on CPU the backward of those
    gathers (zero-filled gradients, then an accumulating index_put) makes a block's attention
    15-45% slower than this reshape, which is a view. Measured on 2 CPU cores, medians of 8
    paired training steps: 7% slower at 448 px, 9% at 224 px, 1% on clips.
    Training never has unequal windows, so it would pay that for nothing.
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
