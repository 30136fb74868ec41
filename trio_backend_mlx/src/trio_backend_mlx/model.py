"""A checkpoint loaded with mlx-vlm: prompt preparation and streamed generation on mlx-vlm's ``generate_step``."""

from __future__ import annotations

import atexit
import json
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_vlm.generate import generate_step

from trio_core.backends import GenerationSettings, GenerationStats, LoadedModel, PreparedPrompt, TokenLogprob
from trio_core.chat import Message
from trio_core.chat_templates import media_frames
from trio_core.constrained import JsonGrammars
from trio_core.generation import Request, RequestHook, close_hooks, finish_request, start_request, stream_answer
from trio_core.tokens import answer_token_ids, stop_token_ids, visual_token_ids

from .constrained import JsonConstraint
from .families import MLXFamily
from .worker import MLXThread


class MLXModel(LoadedModel):
    """An mlx-vlm model with its processor, on the Metal GPU or the CPU."""

    backend = "mlx"

    def __init__(self, model, processor, family: MLXFamily, *, model_dir: Path, device: str, config: dict):
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.family = family
        self.model_dir = model_dir
        self.device = device
        self.dtype = weights_dtype(model)
        self.checkpoint = family.checkpoint(processor, model_dir, config)
        self.stop_token_ids = stop_token_ids(configured_eos(model_dir, config), self.tokenizer, family.end_tokens)
        self.visual_token_ids = visual_token_ids(processor)
        self.yes_ids, self.no_ids = answer_token_ids(self.tokenizer, "yes"), answer_token_ids(self.tokenizer, "no")
        self.json_grammars = JsonGrammars(self.tokenizer, self.stop_token_ids, JsonConstraint)
        self.max_model_len = config.get("text_config", config).get("max_position_embeddings")
        # One long-lived thread runs every MLX computation: the caller's thread stays free to stream text,
        # and mlx-vlm's generation stream is always used from the same thread.
        self._worker = MLXThread("trio-mlx-generate")
        # A model dropped without close() ends its thread too (at exit the thread stops itself).
        weakref.finalize(self, self._worker.stop).atexit = False
        self.request_hooks: list[RequestHook] = []
        # MLX arrays still alive when the interpreter tears down can outlive MLX's own scheduler and abort the
        # process ("terminate called without an active exception"): a model nobody closed is closed at exit.
        atexit.register(_close_at_exit, weakref.ref(self))

    def prepare(self, messages: list[Message]) -> PreparedPrompt:
        inputs = self._worker.submit(self.family.build_inputs, self.processor, messages, self.checkpoint).result()
        input_ids = np.asarray(inputs["input_ids"])[0]
        visual = int(np.isin(input_ids, self.visual_token_ids).sum()) if self.visual_token_ids else 0
        return PreparedPrompt(
            inputs=inputs, prompt_tokens=int(input_ids.shape[0]), visual_tokens=visual, frames=media_frames(messages)
        )

    def generation_kwargs(self, settings: GenerationSettings) -> dict:
        """Arguments for ``generate_step``: greedy unless a temperature is set; never the checkpoint's own
        sampling defaults (top-k off: the user asked for top-p)."""
        kwargs = {"max_tokens": settings.max_tokens, "temperature": settings.temperature, "top_p": 1.0, "top_k": 0}
        if settings.temperature > 0:
            kwargs.update(top_p=settings.top_p, seed=settings.seed)
        if settings.json_schema is not None:  # a new processor (its own matcher) for each answer
            kwargs["logits_processors"] = [self.json_grammars.processor(settings.json_schema)]
        return kwargs

    def check_json_schema(self, schema: dict) -> None:
        self.json_grammars.grammar(schema)

    def generate(self, prompt: PreparedPrompt, settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        kwargs = self.generation_kwargs(settings)

        def produce(put, cancel: threading.Event) -> None:  # on the MLX thread
            request = start_request(self, dict(prompt.inputs), kwargs, stats, prompt.frames)
            for token in self._tokens(request, settings):
                put(token)
                if cancel.is_set():
                    break
            finish_request(self, request)

        yield from stream_answer(
            self._worker.submit, produce, tokenizer=self.tokenizer, stop_token_ids=self.stop_token_ids, stats=stats
        )
        stats.completion_tokens = len(stats.token_ids)
        ended_on_stop = bool(stats.token_ids) and stats.token_ids[-1] in self.stop_token_ids
        stats.finish_reason = "length" if len(stats.token_ids) >= settings.max_tokens and not ended_on_stop else "stop"

    def _tokens(self, request: Request, settings: GenerationSettings) -> Iterator[int]:
        """The answer's token ids from ``generate_step`` (on the worker thread), up to and with the first end token."""
        inputs = dict(request.inputs)
        input_ids, pixel_values = inputs.pop("input_ids"), inputs.pop("pixel_values", None)
        steps = generate_step(input_ids, self.model, pixel_values, None, **inputs, **request.kwargs)
        try:
            if settings.top_logprobs is not None:
                request.stats.logprobs = []
            for index, (token, logprobs) in enumerate(steps):
                if index == 0 and settings.yes_no:
                    self._note_yes_no(logprobs, request.stats)
                if token in self.stop_token_ids:
                    yield int(token)
                    return
                if settings.top_logprobs is not None:
                    request.stats.logprobs.append(self._noted(int(token), logprobs, settings.top_logprobs))
                yield int(token)
        finally:
            steps.close()

    def _noted(self, token: int, logprobs: mx.array, top: int) -> TokenLogprob:
        """The chosen token's log-probability and the ``top`` most likely at this step (generate_step's
        distribution: the model's own, or the constrained one under a JSON schema)."""
        values = np.asarray(logprobs.reshape(-1).astype(mx.float32))
        best = np.argpartition(-values, top - 1)[:top] if top else []  # the top, not a sort of the vocabulary
        best = sorted(best, key=lambda token: -values[token])
        alternatives = [(self.tokenizer.decode([int(other)]), float(values[other])) for other in best]
        return TokenLogprob(self.tokenizer.decode([token]), float(values[token]), alternatives)

    def _note_yes_no(self, logprobs: mx.array, stats: GenerationStats) -> None:
        """How likely the first answer token is "yes" against "no", from its log-probabilities (vocab,)."""
        if not (self.yes_ids and self.no_ids):
            return
        probabilities = mx.exp(logprobs.reshape(-1).astype(mx.float32))
        p_yes = probabilities[mx.array(self.yes_ids)].sum().item()
        p_no = probabilities[mx.array(self.no_ids)].sum().item()
        stats.yes_no_mass = p_yes + p_no
        stats.yes_probability = p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None

    raw_library = "mlx_vlm.stream_generate"

    def raw_generate(self, frames, question: str, *, fps: float, max_tokens: int) -> list[int]:
        from .raw import raw_generate

        # On the model's own thread, as every MLX computation of this model (mlx-vlm's stream lives there).
        return self._worker.submit(
            raw_generate,
            self.model,
            self.processor,
            frames,
            question,
            fps=fps,
            max_tokens=max_tokens,
            sizing=self.checkpoint.frame_sizing,
        ).result()

    def reset_peak_memory(self) -> None:
        mx.reset_peak_memory()

    def peak_memory_mb(self) -> float:
        """MLX's own count: on Apple Silicon the unified memory its arrays took, on the CPU its allocations."""
        return mx.get_peak_memory() / 2**20

    def close(self) -> None:
        if self.model is None:
            return
        self._worker.stop()
        close_hooks(self)
        self.model = None
        mx.clear_cache()


def _close_at_exit(reference: weakref.ref) -> None:
    model = reference()
    if model is not None:
        model.close()


def weights_dtype(model) -> str:
    """The floating-point type the weights compute in (a quantized model's scales say it)."""
    for _, value in tree_flatten(model.parameters()):
        if mx.issubdtype(value.dtype, mx.floating):
            return str(value.dtype).removeprefix("mlx.core.")
    return "unknown"


def configured_eos(model_dir: Path, config: dict):
    """The checkpoint's EOS id(s): generation_config.json's, else config.json's (top level or its text model's)."""
    path = model_dir / "generation_config.json"
    if path.is_file():
        try:
            configured = json.loads(path.read_text()).get("eos_token_id")
        except (OSError, json.JSONDecodeError):
            configured = None
        if configured is not None:
            return configured
    return config.get("eos_token_id", (config.get("text_config") or {}).get("eos_token_id"))
