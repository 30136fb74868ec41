"""The data path: source -> sampler -> filters -> model family -> optimizers -> generate -> postprocess."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from .backends import GenerationSettings, GenerationStats, LoadedModel
from .chat import ImagePart, Message, VideoPart
from .config import EngineConfig
from .errors import MediaError
from .filters import enabled_filters
from .frames import Frame, SamplingPlan
from .metrics import FrameFilterStep, Metrics, VisualTokenStep
from .plugins import registry
from .postprocess import StopScanner, ThinkStripper
from .postprocess import strip_thinking as strip_thinking_from
from .sources import read_frames


@dataclass
class Clip:
    """Frames read from a source and filtered, ready for a model; ``metrics`` holds the frame counts."""

    frames: list[Frame]
    plan: SamplingPlan
    metrics: Metrics
    read_ms: float


def read_clip(target, plan: SamplingPlan, config: EngineConfig) -> Clip:
    """Read ``target`` and filter its frames: everything a question needs that no model does."""
    started = time.perf_counter()
    metrics = Metrics()
    frames = gather_frames(target, plan, config, metrics)
    return Clip(frames, plan, metrics, read_ms=(time.perf_counter() - started) * 1000)


def gather_frames(target, plan: SamplingPlan, config: EngineConfig, metrics: Metrics) -> list[Frame]:
    """Read ``target`` through its frame source, then run every enabled frame filter in order.

    The filters' settings are checked before anything is read; each filter that ran is one
    step of ``metrics.frame_filter_steps``.
    """
    frame_filters = enabled_filters(config, registry())
    frames = read_frames(target, plan, config)
    if not frames:
        raise MediaError(f"No frame could be read from {_name(target)}.")
    metrics.frames_in = len(frames)
    for frame_filter in frame_filters:
        before = len(frames)
        frames = frame_filter.apply(frames)
        if not frames:
            raise MediaError(
                f"The {frame_filter.name} filter dropped every frame of {_name(target)}: "
                "nothing is left to ask about, so turn that filter off or loosen it."
            )
        metrics.frame_filter_steps.append(FrameFilterStep(filter=frame_filter.name, before=before, after=len(frames)))
    metrics.frames_used = len(frames)
    return frames


def media_part(frames: list[Frame], plan: SamplingPlan) -> ImagePart | VideoPart:
    """One frame is an image; several are a video (families without video turn them into images)."""
    if len(frames) == 1:
        return ImagePart(frames[0])
    return VideoPart(tuple(frames), fps=plan.fps)


def answer(
    model: LoadedModel,
    messages: list[Message],
    settings: GenerationSettings,
    metrics: Metrics,
    *,
    strip_thinking: bool,
    started: float,
) -> Iterator[str]:
    """Prepare the prompt, generate, and yield the visible answer; fills ``metrics`` at the end.

    ``started`` is when the request began (``time.perf_counter()``), so reading frames counts.

    The generator's return value is the backend's :class:`GenerationStats`.
    """
    prompt = model.prepare(messages)
    metrics.preprocess_ms = (time.perf_counter() - started) * 1000
    metrics.prompt_tokens = prompt.prompt_tokens
    metrics.visual_tokens = prompt.visual_tokens
    stats = GenerationStats(prompt_tokens=prompt.prompt_tokens)
    model.reset_peak_memory()
    stripper = ThinkStripper() if strip_thinking else None
    stops = StopScanner(settings.stop)
    stream = model.generate(prompt, settings, stats)
    for delta in stream:
        delta = stops.feed(delta)
        shown = stripper.feed(delta) if stripper else delta
        if shown:
            yield shown
        if stops.stopped:
            stream.close()  # stops generation; the stats so far are the answer's
            stats.completion_tokens, stats.finish_reason = len(stats.token_ids), "stop"
            break
    tail = stops.flush()
    tail = (stripper.feed(tail) + stripper.flush()) if stripper else tail
    if tail:
        yield tail
    record(metrics, prompt, stats, model, started)
    return stats


def answer_each(
    model: LoadedModel,
    conversations: list[list[Message]],
    settings: GenerationSettings,
    metrics: Metrics,
    *,
    strip_thinking: bool,
    started: float,
) -> list[tuple[str, GenerationStats, Metrics]]:
    """Answer several conversations in one go (the backend may batch them): each one's text, stats and metrics.

    ``metrics`` holds what the conversations share (the frames read); each answer gets a copy.
    """
    prompts = model.prepare_each(conversations)
    preprocess_ms = (time.perf_counter() - started) * 1000
    stats = [GenerationStats(prompt_tokens=prompt.prompt_tokens) for prompt in prompts]
    model.reset_peak_memory()
    texts = model.generate_each(prompts, settings, stats)
    answers = []
    for prompt, stat, text in zip(prompts, stats, texts, strict=True):
        own = metrics.model_copy()
        own.preprocess_ms = preprocess_ms
        stops = StopScanner(settings.stop)  # on the whole answer: the tokens after a stop string were generated
        text = stops.feed(text)
        if stops.stopped:
            stat.finish_reason = "stop"
        else:
            text += stops.flush()
        if strip_thinking:
            text = strip_thinking_from(text)
        record(own, prompt, stat, model, started)
        answers.append((text, stat, own))
    return answers


def record(metrics: Metrics, prompt, stats: GenerationStats, model: LoadedModel, started: float) -> None:
    """Fill ``metrics`` from a finished generation's ``stats``."""
    metrics.visual_tokens = prompt.visual_tokens
    metrics.visual_token_steps = [
        VisualTokenStep(optimizer=n, before=b, after=a) for n, b, a in stats.visual_token_steps
    ]
    metrics.visual_tokens_after = stats.visual_token_steps[-1][2] if stats.visual_token_steps else prompt.visual_tokens
    metrics.cache_hit = stats.cache_hit
    metrics.prompt_tokens = stats.prompt_tokens
    metrics.completion_tokens = stats.completion_tokens
    metrics.ttft_ms = metrics.preprocess_ms + stats.prefill_ms
    metrics.prefill_ms = stats.prefill_ms
    metrics.decode_ms = stats.decode_ms
    if stats.completion_tokens > 1 and stats.decode_ms > 0:
        metrics.decode_tokens_per_s = (stats.completion_tokens - 1) / (stats.decode_ms / 1000)
    metrics.sent_bytes, metrics.endpoint = stats.sent_bytes, stats.endpoint
    metrics.peak_memory_mb = model.peak_memory_mb()
    metrics.latency_ms = (time.perf_counter() - started) * 1000


def _name(target) -> str:
    return str(target) if isinstance(target, str) else type(target).__name__
