"""The torch backend's constrained decoding: a transformers logits processor over llguidance's matchers.

The grammars come from :class:`trio_core.constrained.JsonGrammars`. llguidance computes a mask
in microseconds, where the model's step takes milliseconds (``trio bench structured`` measures
the overhead, and docs/benchmarks.md has the comparison with xgrammar that chose it).
"""

from __future__ import annotations

import time

import torch
from transformers import LogitsProcessor

from trio_core.constrained import allowed_tokens, constrain_failed


class JsonConstraint(LogitsProcessor):
    """Masks, at each step and for each row, every token the grammar does not allow next."""

    def __init__(self, tokenizer, grammar: str, rows: int):
        import llguidance
        import llguidance.torch

        self._fill = llguidance.torch.fill_next_token_bitmask
        self.matchers = [llguidance.LLMatcher(tokenizer, grammar) for _ in range(rows)]
        self.vocab_size = tokenizer.vocab_size
        self.bitmask = torch.full(llguidance.torch.get_bitmask_shape(rows, self.vocab_size), -1, dtype=torch.int32)
        self.prompt_length: int | None = None
        self.steps, self.spent_s = 0, 0.0  # what the constraint itself cost (trio bench structured reports it)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        started = time.perf_counter()
        try:
            return self._constrain(input_ids, scores)
        finally:
            self.steps += 1
            self.spent_s += time.perf_counter() - started

    def _constrain(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        elif input_ids.shape[1] > self.prompt_length:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        for row, matcher in enumerate(self.matchers):
            if matcher.is_error():
                raise constrain_failed(matcher.get_error())
            self._fill(matcher, self.bitmask, row)
        width = min(self.vocab_size, scores.shape[-1])  # the tokenizer's tokens the model has logits for
        allowed = torch.from_numpy(allowed_tokens(self.bitmask.numpy(), width))
        constrained = torch.full_like(scores, float("-inf"))  # tokens past the tokenizer's (padding rows): never
        constrained[:, :width] = torch.where(
            allowed.to(scores.device, non_blocking=True), scores[:, :width], constrained[:, :1]
        )
        return constrained
