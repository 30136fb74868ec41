"""A checkpoint loaded with transformers: prompt preparation and streamed generation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from transformers.generation.logits_process import LogitsProcessor, LogitsProcessorList
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from trio_core.backends import (
    GenerationSettings,
    GenerationStats,
    LoadedModel,
    PreparedPrompt,
    TokenLogprob,
    process_peak_rss_mb,
)
from trio_core.chat import Message
from trio_core.chat_templates import media_frames
from trio_core.constrained import JsonGrammars
from trio_core.generation import (
    Batch,
    RequestHook,
    batchable,
    batches,
    close_hooks,
    finish_request,
    start_request,
    stream_answer,
)
from trio_core.tokens import answer_token_ids, stop_token_ids, visual_token_ids

from .constrained import JsonConstraint
from .families import TorchFamily


class TorchModel(LoadedModel):
    """A transformers image-text-to-text model with its processor, on one device."""

    backend = "torch"

    def __init__(self, model, processor, family: TorchFamily, *, model_dir: Path, device: str, dtype: str):
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = family
        self.model_dir = model_dir
        self.device = device
        self.dtype = dtype
        self.stop_token_ids = stop_token_ids(model.generation_config.eos_token_id, self.tokenizer, family.end_tokens)
        self.visual_token_ids = visual_token_ids(processor)
        self.yes_ids, self.no_ids = answer_token_ids(self.tokenizer, "yes"), answer_token_ids(self.tokenizer, "no")
        self.json_grammars = JsonGrammars(self.tokenizer, self.stop_token_ids, JsonConstraint)
        text_config = getattr(model.config, "text_config", model.config)
        self.max_model_len = getattr(text_config, "max_position_embeddings", None)
        # One long-lived thread runs generate: the caller's thread stays free to stream text, and
        # torch's intra-op thread pool is created once rather than for every request.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trio-generate")
        # Optimizers that act per request (a KV cache across requests, ...) add themselves here.
        self.request_hooks: list[RequestHook] = []

    def prepare(self, messages: list[Message]) -> PreparedPrompt:
        return self._prepared(messages, self.family.build_inputs(self.processor, messages))

    def prepare_each(self, conversations: list[list[Message]]) -> list[PreparedPrompt]:
        built = self.family.build_inputs_each(self.processor, conversations)
        return [self._prepared(messages, inputs) for messages, inputs in zip(conversations, built, strict=True)]

    def _prepared(self, messages: list[Message], inputs) -> PreparedPrompt:
        input_ids = inputs["input_ids"][0]
        visual = int(sum((input_ids == token_id).sum().item() for token_id in self.visual_token_ids))
        inputs = inputs.to(self.device, dtype=self.model.dtype)
        frames = media_frames(messages)
        return PreparedPrompt(inputs=inputs, prompt_tokens=int(input_ids.shape[0]), visual_tokens=visual, frames=frames)

    def generation_kwargs(self, settings: GenerationSettings) -> dict:
        """Arguments for ``model.generate``: greedy unless a temperature is set; stop on every end token."""
        kwargs = {
            "max_new_tokens": settings.max_tokens,
            "eos_token_id": self.stop_token_ids,
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.stop_token_ids[0],
        }
        if settings.temperature > 0:
            # top_k=0 turns off any top-k a checkpoint's generation_config carries: the user asked for top_p.
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False)
        return kwargs

    def yes_no_kwargs(self, settings: GenerationSettings, stats: list[GenerationStats], first=None) -> dict:
        """The logits processors: ``first`` (one that notes log-probabilities), with ``settings.yes_no`` the one
        that fills each row's yes/no probabilities (these see the model's own distribution), with
        ``settings.json_schema`` the one that keeps the answer valid."""
        processors = [first] if first is not None else []
        if settings.yes_no and self.yes_ids and self.no_ids:
            processors.append(_YesNo(self.yes_ids, self.no_ids, stats))
        if settings.json_schema is not None:
            processors.append(self.json_grammars.processor(settings.json_schema, rows=len(stats)))
        return {"logits_processor": LogitsProcessorList(processors)} if processors else {}

    def check_json_schema(self, schema: dict) -> None:
        self.json_grammars.grammar(schema)

    def generate(self, prompt: PreparedPrompt, settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        noted = _Logprobs(settings.top_logprobs) if settings.top_logprobs is not None else None
        kwargs = self.generation_kwargs(settings) | self.yes_no_kwargs(settings, [stats], first=noted)

        def produce(put, cancel: threading.Event) -> None:  # on the worker thread
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            with torch.inference_mode():
                request = start_request(self, dict(prompt.inputs), kwargs, stats, prompt.frames)
                self.model.generate(
                    **request.inputs,
                    **request.kwargs,
                    streamer=_TokenStreamer(put),
                    stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
                )
                finish_request(self, request)

        yield from stream_answer(
            self._worker.submit, produce, tokenizer=self.tokenizer, stop_token_ids=self.stop_token_ids, stats=stats
        )
        if noted is not None:
            stats.logprobs = noted.finish(stats.token_ids, self.tokenizer, set(self.stop_token_ids))
        self._finish(stats, settings)

    def generate_each(self, prompts, settings, stats) -> list[str]:
        """Answer each prompt. Questions that a request hook offers to run together (kvreuse: the
        same cached media prefix) decode as one batch: one pass over the weights per step for
        all of them."""
        if len(prompts) < 2 or not batchable(self):
            return super().generate_each(prompts, settings, stats)
        kwargs = self.generation_kwargs(settings)

        def run() -> None:
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            with torch.inference_mode():
                started = time.perf_counter()  # the hooks' work (a miss computes the media prefix) is prefill
                requests = [
                    start_request(self, dict(prompt.inputs), kwargs, stat, prompt.frames)
                    for prompt, stat in zip(prompts, stats, strict=True)
                ]
                for batch in batches(self, requests):
                    self._generate_batch(batch, settings, started)
                    started = time.perf_counter()

        self._worker.submit(run).result()
        stop = set(self.stop_token_ids)
        return [
            self.tokenizer.decode([t for t in stat.token_ids if t not in stop], skip_special_tokens=True)
            for stat in stats
        ]

    def _generate_batch(self, batch: Batch, settings: GenerationSettings, started: float) -> None:
        """One generate call for the batch's requests (one row each), then each one's stats and hooks."""
        requests = batch.requests
        kwargs = batch.kwargs | self.yes_no_kwargs(settings, [request.stats for request in requests])
        timer = _FirstToken()
        sequences = self.model.generate(**batch.inputs, **kwargs, streamer=timer)
        first_at, ended = timer.first_at or time.perf_counter(), time.perf_counter()
        prompt_length = batch.inputs["input_ids"].shape[1]
        for request, row in zip(requests, sequences[:, prompt_length:].tolist(), strict=True):
            stats = request.stats
            ends = [index for index, token in enumerate(row) if token in self.stop_token_ids]
            stats.token_ids = row[: ends[0] + 1] if ends else row
            stats.prefill_ms = (first_at - started) * 1000
            stats.decode_ms = (ended - first_at) * 1000
            self._finish(stats, settings)
            finish_request(self, request)

    def _finish(self, stats: GenerationStats, settings: GenerationSettings) -> None:
        stats.completion_tokens = len(stats.token_ids)
        ended_on_stop = bool(stats.token_ids) and stats.token_ids[-1] in self.stop_token_ids
        stats.finish_reason = "length" if len(stats.token_ids) >= settings.max_tokens and not ended_on_stop else "stop"

    raw_library = "transformers generate"

    def raw_generate(self, frames, question: str, *, fps: float, max_tokens: int) -> list[int]:
        from .raw import raw_generate

        return raw_generate(
            self.model, self.processor, frames, question, fps=fps, max_tokens=max_tokens, eos=self.stop_token_ids
        )

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float:
        if self.device.startswith("cuda"):
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.device == "mps":
            return torch.mps.driver_allocated_memory() / 2**20
        return process_peak_rss_mb()

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        close_hooks(self)
        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


class _TokenStreamer(BaseStreamer):
    """Receives tokens from ``generate``: the first call carries the prompt, which is skipped."""

    def __init__(self, put: Callable[[int], None]):
        self.put_token = put
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.put_token(token)

    def end(self) -> None:
        pass


class _FirstToken(BaseStreamer):
    """Notes when a batch's first new tokens arrive (the first call carries the prompt)."""

    def __init__(self):
        self.calls = 0
        self.first_at: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first_at = time.perf_counter()

    def end(self) -> None:
        pass


class _YesNo(LogitsProcessor):
    """Notes, from the first answer token's distribution, how likely a "yes" is against a "no"; changes nothing."""

    def __init__(self, yes_ids: list[int], no_ids: list[int], stats: list[GenerationStats]):
        self.yes_ids, self.no_ids, self.stats = yes_ids, no_ids, stats  # one stats per batch row
        self.seen = False

    def __call__(self, input_ids, scores):
        if not self.seen:
            self.seen = True
            probabilities = scores.float().softmax(-1)
            yes, no = probabilities[:, self.yes_ids].sum(-1).tolist(), probabilities[:, self.no_ids].sum(-1).tolist()
            for stats, p_yes, p_no in zip(self.stats, yes, no, strict=True):
                stats.yes_no_mass = p_yes + p_no
                stats.yes_probability = p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None
        return scores


class _Logprobs(LogitsProcessor):
    """Notes, at each step of one answer, the model's log-probabilities: the chosen token's (known at the next
    step, or at the end) and the ``top`` most likely; changes nothing."""

    def __init__(self, top: int):
        self.top = top
        self.steps: list[tuple[torch.Tensor, list[tuple[int, float]]]] = []  # (the step's log-probs, its top)

    def __call__(self, input_ids, scores):
        logprobs = scores[0].float().log_softmax(-1)
        best = logprobs.topk(self.top) if self.top else None
        top = list(zip(best.indices.tolist(), best.values.tolist(), strict=True)) if best is not None else []
        if self.steps:  # only the last step's full distribution is kept: the next token picks from it
            previous, _ = self.steps[-1]
            self.steps[-1] = (previous[int(input_ids[0, -1])].reshape(1), self.steps[-1][1])
        self.steps.append((logprobs, top))
        return scores

    def finish(self, token_ids: list[int], tokenizer, ends: set[int]) -> list[TokenLogprob]:
        """One entry per answer token (the end token left out), its text decoded alone."""
        noted = []
        for token, (logprobs, top) in zip(token_ids, self.steps, strict=False):
            if token in ends:
                break
            value = float(logprobs[0] if logprobs.numel() == 1 else logprobs[token])
            alternatives = [(tokenizer.decode([other]), other_value) for other, other_value in top]
            noted.append(TokenLogprob(tokenizer.decode([token]), value, alternatives))
        return noted


class _Cancelled(StoppingCriteria):
    """Stops generation when the consumer went away (closed stream, client disconnect)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)
