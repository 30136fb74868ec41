"""The MLX backend's constrained decoding: a logits processor for mlx-vlm's ``generate_step`` over llguidance.

mlx-vlm ships one too (``mlx_vlm.structured``), but it applies the mask with a Metal kernel,
which Linux's CPU build of MLX does not run; this one unpacks the mask with numpy, on any
device. The grammars come from :class:`trio_core.constrained.JsonGrammars`.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from trio_core.constrained import allowed_tokens, constrain_failed
from trio_core.errors import ConfigError


class JsonConstraint:
    """``generate_step`` calls it with every token so far (the prompt first) and the next token's logits."""

    def __init__(self, tokenizer, grammar: str, rows: int = 1):
        import llguidance
        import llguidance.numpy

        if rows != 1:
            raise ConfigError("The MLX backend constrains one answer at a time.")
        self._fill = llguidance.numpy.fill_next_token_bitmask
        self.matcher = llguidance.LLMatcher(tokenizer, grammar)
        self.vocab_size = tokenizer.vocab_size
        self.bitmask = llguidance.numpy.allocate_token_bitmask(1, self.vocab_size)
        self.seen: int | None = None  # tokens the last call saw: the prompt, then one more each step

    def __call__(self, tokens: mx.array, logits: mx.array) -> mx.array:
        if self.seen is None:
            self.seen = tokens.size
        elif tokens.size > self.seen:
            self.seen = tokens.size
            if not self.matcher.is_stopped():
                self.matcher.consume_token(int(tokens[-1].item()))
        if self.matcher.is_error():
            raise constrain_failed(self.matcher.get_error())
        self._fill(self.matcher, self.bitmask, 0)
        width = min(self.vocab_size, logits.shape[-1])  # the tokenizer's tokens the model has logits for
        allowed = np.zeros(logits.shape[-1], dtype=np.bool_)  # tokens past the tokenizer's: never
        allowed[:width] = allowed_tokens(self.bitmask, width)[0]
        return mx.where(mx.array(allowed), logits, mx.array(-np.inf, dtype=logits.dtype))
