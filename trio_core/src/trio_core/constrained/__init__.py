"""Constrained decoding's shared part: JSON schemas compiled to llguidance grammars for a model's tokenizer.

A backend that constrains answers (``GenerationSettings.json_schema``) keeps one
:class:`JsonGrammars` per loaded model and makes its own logits processor from it (torch's:
``trio_backend_torch.constrained``; MLX's: ``trio_backend_mlx.constrained``): at each step the
processor asks llguidance which tokens may come next and masks every other one, so the answer
is a prefix of valid JSON at every step and can only end where the JSON is complete.

llguidance is trio-core's extra ``constrained``, which those backends require (mlx-vlm needs it
too); nothing in trio-core imports this package but the backends.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError

COMPILED_KEPT = 64  # schemas a model keeps compiled (clients may send any number of them)


class JsonGrammars:
    """A model's schemas, compiled against its tokenizer (once each: the same schema comes back per frame).

    ``make(tokenizer, grammar, rows)`` is the backend's logits processor; :meth:`processor` makes one.
    """

    def __init__(self, tokenizer, end_token_ids: list[int], make: Callable[[Any, str, int], Any]):
        self._hf_tokenizer, self._ends, self._make = tokenizer, end_token_ids, make
        self._tokenizer = None
        self._compiled: OrderedDict[str, str] = OrderedDict()  # the newest COMPILED_KEPT schemas
        self._lock = threading.Lock()

    @property
    def tokenizer(self):
        """llguidance's view of the model's tokenizer (converted once: about a second for a large vocabulary)."""
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
                self._compiled.move_to_end(key)
                return self._compiled[key]
            tokenizer = self.tokenizer
        # Compiled outside the lock: a client's large schema does not hold up answers under known ones.
        try:
            # No free whitespace: a small model would otherwise spend its tokens on spaces and newlines.
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
        except (ValueError, TypeError) as error:
            raise ConfigError(f"The JSON schema is not usable: {error}.") from None
        problem = llguidance.LLMatcher.validate_grammar(grammar, tokenizer)
        if problem:
            raise ConfigError(f"The JSON schema is not usable: {problem.strip()}.")
        with self._lock:
            self._compiled[key] = grammar
            while len(self._compiled) > COMPILED_KEPT:
                self._compiled.popitem(last=False)
        return grammar

    def processor(self, schema: dict, rows: int = 1):
        return self._make(self.tokenizer, self.grammar(schema), rows)


def allowed_tokens(bitmask: np.ndarray, vocab_size: int) -> np.ndarray:
    """llguidance's packed mask (int32 words, one bit a token) as one bool per token, shape (rows, vocab_size).

    (llguidance's own apply functions are a torch.compile kernel and a Metal kernel: seconds of compiling on a
    CPU at the first request, or no kernel at all on Linux; unpacking with numpy takes microseconds.)
    """
    bits = np.unpackbits(np.ascontiguousarray(bitmask).view(np.uint8), axis=-1, bitorder="little")
    return bits[:, :vocab_size].view(np.bool_)


def constrain_failed(error: str) -> RuntimeError:
    """A matcher that went wrong in the middle of an answer: trio's failure (a 500), not the client's."""
    return RuntimeError(f"Constrained decoding failed: {error}")
