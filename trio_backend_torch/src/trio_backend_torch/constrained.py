"""Answers that always parse against a JSON schema: constrained decoding with llguidance.

At each step of ``model.generate`` a logits processor asks llguidance which tokens may come
next under the schema's grammar and masks every other one (the answer is a prefix of valid
JSON at every step, and it can only end where the JSON is complete: the end token is masked
until then). llguidance is also what mlx-vlm uses; it computes a mask in microseconds, where
the model's step takes milliseconds (``trio bench structured`` measures the overhead, and
docs/benchmarks.md has the comparison with xgrammar that chose it).
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import torch
from transformers import LogitsProcessor

from trio_core.errors import ConfigError


class JsonGrammars:
    """A model's schemas, compiled against its tokenizer (once each: the same schema comes back per frame)."""

    def __init__(self, tokenizer, end_token_ids: list[int]):
        self._hf_tokenizer, self._ends = tokenizer, end_token_ids
        self._tokenizer = None
        self._compiled: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            import llguidance.hf

            try:
                self._tokenizer = llguidance.hf.from_tokenizer(self._hf_tokenizer, eos_token=self._ends[0])
            except ValueError as error:  # a slow (Python) tokenizer: llguidance reads the Rust one
                raise ConfigError(f"This model's tokenizer cannot constrain answers: {error}.") from None
        return self._tokenizer

    def grammar(self, schema: dict) -> str:
        """The schema's grammar; a :class:`ConfigError` naming the problem when it is invalid or unsupported."""
        import llguidance

        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if key in self._compiled:
                return self._compiled[key]
            try:
                # No free whitespace: a small model would otherwise spend its tokens on spaces and newlines.
                grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
            except ValueError as error:
                raise ConfigError(f"The JSON schema is not usable: {error}.") from None
            problem = llguidance.LLMatcher.validate_grammar(grammar, self.tokenizer)
            if problem:
                raise ConfigError(f"The JSON schema is not usable: {problem.strip()}.")
            self._compiled[key] = grammar
            return grammar

    def processor(self, schema: dict, rows: int = 1) -> JsonConstraint:
        return JsonConstraint(self.tokenizer, self.grammar(schema), rows)


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
                raise ConfigError(f"Constrained decoding failed: {matcher.get_error()}")
            self._fill(matcher, self.bitmask, row)
        # The bits as one bool per token. (llguidance's own apply function is a torch.compile kernel: seconds of
        # compiling on a CPU at the first request, and a C++ compiler needed; unpacking is microseconds.)
        bits = np.unpackbits(self.bitmask.numpy().view(np.uint8), axis=-1, bitorder="little")[:, : self.vocab_size]
        allowed = torch.from_numpy(bits.view(np.bool_)).to(scores.device, non_blocking=True)
        constrained = torch.full_like(scores, float("-inf"))  # tokens past the tokenizer's (padding rows): never
        constrained[:, : self.vocab_size] = torch.where(allowed, scores[:, : self.vocab_size], constrained[:, :1])
        return constrained
