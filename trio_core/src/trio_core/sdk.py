"""The Python SDK: ``TrioCore(config).load()``, then ask questions about videos and images."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from .backends import Backend, GenerationSettings, GenerationStats, LoadedModel, available_by_priority
from .chat import Message, question_about
from .config import EngineConfig, load_config
from .errors import IncompatibleOptimizerError, PluginNotFoundError, TrioError
from .families import ModelFamily, select_family
from .filters import enabled_filters
from .frames import SamplingPlan
from .metrics import Metrics
from .models import read_model_type, resolve_model
from .optimizers import Optimizer, plan_optimizers
from .pipeline import Clip, answer, answer_each, media_part, read_clip
from .plugins import Registry, missing_message, registry


class AnalysisResult(BaseModel):
    """An answer and how it was produced."""

    text: str
    model: str
    backend: str
    family: str
    device: str
    finish_reason: str
    optimizers: list[str]
    metrics: Metrics
    token_ids: list[int] = Field(default_factory=list, description="Generated token ids, end token included.")
    yes_probability: float | None = Field(
        None, description="With yes_no=True: P(yes) / (P(yes) + P(no)) for the answer's first token."
    )
    logprobs: list[dict] | None = Field(
        None, description="With top_logprobs=N: each answer token's {token, logprob, top: [[token, logprob], ...]}."
    )
    yes_no_mass: float | None = Field(
        None, description="With yes_no=True: P(yes) + P(no) for the first token; low when the answer is neither."
    )


class TrioCore:
    """The engine. Load once, then ask as many questions as you like.

    >>> engine = TrioCore(model="path/to/model").load()
    >>> engine.analyze_video("clip.mp4", "What is happening?").text
    """

    def __init__(self, config: EngineConfig | None = None, **overrides: Any) -> None:
        self.config = load_config(config, **overrides)
        self.model: LoadedModel | None = None
        self.optimizers: list[Optimizer] = []

    # Loading ----------------------------------------------------------------------------

    def load(self) -> TrioCore:
        """Resolve the model (downloading it if needed), pick a backend and family, apply optimizers."""
        reg = registry()
        requested = self.config.backend
        if requested == "auto" and self.config.endpoints:
            requested = "openai"  # endpoints mean the remote backend
        if requested != "auto" and not reg.find("backend", requested).local:
            model_dir = None  # the servers hold the model: nothing to resolve or download here
            backend, family = choose_backend(requested, "*", reg)
        else:
            model_dir = resolve_model(self.config.model)
            backend, family = choose_backend(requested, read_model_type(model_dir), reg)
        planned = plan_optimizers(self.config, family.name, backend.name, reg)  # refused before the load
        enabled_filters(self.config, reg)  # so are bad frame-filter settings, not left to the first question
        model = backend.load(model_dir, family, self.config)
        try:
            if planned and model.request_hooks is None:
                raise IncompatibleOptimizerError(
                    f"The {backend.name} backend runs no optimizers (its models have no request hooks): "
                    "drop --optimizers."
                )
            for plan in planned:
                plan.apply(model)
        except BaseException:
            model.close()
            raise
        self.close()
        self.model, self.optimizers = model, [plan.optimizer for plan in planned]
        return self

    def close(self) -> None:
        """Release the loaded model."""
        if self.model is not None:
            self.model.close()
            self.model = None

    def _loaded(self) -> LoadedModel:
        if self.model is None:
            raise TrioError("The engine has no model loaded: call TrioCore(...).load() first.")
        return self.model

    # Questions --------------------------------------------------------------------------

    def analyze_video(self, video: Any, question: str, **settings: Any) -> AnalysisResult:
        """Answer ``question`` about a video: a path, an http(s) URL, or frames (numpy/PIL)."""
        return _last(self.stream_video(video, question, **settings))

    def analyze_frame(self, image: Any, question: str, **settings: Any) -> AnalysisResult:
        """Answer ``question`` about one image: a path, a URL, a numpy array or a PIL image."""
        return _last(self.stream_frame(image, question, **settings))

    def analyze_frame_each(self, image: Any, questions: list[str], **settings: Any) -> list[AnalysisResult]:
        """Answer each of ``questions`` about one image (a camera watch's conditions, say).

        The image is read once. With kvreuse it is also encoded and prefilled once, and the
        torch backend decodes the questions together, as one batch.
        """
        return self._each(image, questions, self.frame_plan(), settings)

    def analyze_video_each(self, video: Any, questions: list[str], **settings: Any) -> list[AnalysisResult]:
        """Like :meth:`analyze_frame_each`, about a video."""
        return self._each(video, questions, self.video_plan(), settings)

    def watch(
        self,
        source: Any,
        conditions: list,
        *,
        name: str | None = None,
        alerts: Any = None,
        sinks: list[str] = (),
        **settings: Any,
    ):
        """Watch ``source`` (a file, a URL, ``rtsp://...``) for ``conditions``; iterate the result for its events.

        ``conditions`` are yes/no questions (their ids are made from their words), dicts or
        :class:`trio_core.watch.Condition`; ``settings`` are :class:`trio_core.watch.WatchSettings`
        fields (``fps``, ``confirm``, ``clear``, ``cooldown_s``, ``window``, ``realtime``, ...).
        ``name`` is the watch's id in events and topics (default: a new one). ``alerts`` (a
        :class:`trio_core.watch.alerts.Alerts`) keeps every alert in its event store and delivers it to
        ``sinks`` (URLs: ``mqtt://host``, ``https://...``, ``ntfy://topic``); sinks without ``alerts``
        use the default event store.

        >>> for event in engine.watch("driveway.mp4", ["Is there a car?"], fps=1):
        ...     print(event.to_dict())
        """
        from .config import checked_settings
        from .watch.service import new_watch
        from .watch.settings import WatchSettings

        self._loaded()
        watch_settings = checked_settings(WatchSettings, settings, flag="watch setting", name="watch")
        if sinks and alerts is None:
            from .watch.alerts import Alerts

            alerts = Alerts()
        return new_watch(self, source, conditions, watch_settings, watch_id=name, alerts=alerts, sinks=list(sinks))

    def stream_video(self, video: Any, question: str, **settings: Any) -> Iterator[str | AnalysisResult]:
        """Like :meth:`analyze_video`, but yields text deltas as they are generated, then the result."""
        return self._stream(video, question, self.video_plan(), settings)

    def stream_frame(self, image: Any, question: str, **settings: Any) -> Iterator[str | AnalysisResult]:
        """Like :meth:`analyze_frame`, but yields text deltas, then the result."""
        return self._stream(image, question, self.frame_plan(), settings)

    def stream_chat(self, messages: list[Message], **settings: Any) -> Iterator[str | AnalysisResult]:
        """Answer a whole conversation whose media are already frames (the server's entry point)."""
        return self._generate(messages, Metrics(), time.perf_counter(), settings)

    def read_video(self, video: Any) -> Clip:
        """Read and filter a video's frames without a model: bad media fails here, before any load.

        The returned :class:`Clip` can be passed to :meth:`analyze_video` in place of the video.
        """
        return read_clip(video, self.video_plan(), self.config)

    def read_frame(self, image: Any) -> Clip:
        """Read one image (or a video's middle frame) without a model; pass it to :meth:`analyze_frame`."""
        return read_clip(image, self.frame_plan(), self.config)

    def video_plan(self) -> SamplingPlan:
        return SamplingPlan.from_config(self.config)

    def frame_plan(self) -> SamplingPlan:
        return SamplingPlan(
            fps=self.config.fps, min_frames=1, max_frames=1, max_side=self.config.max_side,
            max_pixels=self.config.max_pixels,
        )  # fmt: skip

    def _stream(self, target, question, plan, settings) -> Iterator[str | AnalysisResult]:
        started = time.perf_counter()
        self._loaded()
        clip = target if isinstance(target, Clip) else read_clip(target, plan, self.config)
        started -= clip.read_ms / 1000 if clip is target else 0.0
        messages = question_about(media_part(clip.frames, clip.plan), question)
        yield from self._generate(messages, clip.metrics.model_copy(), started, settings)

    def _each(self, target, questions, plan, settings) -> list[AnalysisResult]:
        started = time.perf_counter()
        model = self._loaded()
        if not questions:
            raise TrioError("Give at least one question.")
        clip = target if isinstance(target, Clip) else read_clip(target, plan, self.config)
        started -= clip.read_ms / 1000 if clip is target else 0.0
        media = media_part(clip.frames, clip.plan)
        strip = settings.pop("strip_thinking", self.config.strip_thinking)
        generation = GenerationSettings.from_config(self.config, **settings)
        conversations = [question_about(media, question) for question in questions]
        answers = answer_each(model, conversations, generation, clip.metrics, strip_thinking=strip, started=started)
        return [self._result(text.strip(), stats, metrics) for text, stats, metrics in answers]

    def _result(self, text: str, stats: GenerationStats, metrics: Metrics) -> AnalysisResult:
        model = self._loaded()
        return AnalysisResult(
            text=text,
            model=self.config.model,
            backend=model.backend,
            family=model.family.name,
            device=model.device,
            finish_reason=stats.finish_reason,
            optimizers=[optimizer.name for optimizer in self.optimizers],
            metrics=metrics,
            token_ids=stats.token_ids,
            yes_probability=stats.yes_probability,
            logprobs=[dataclasses.asdict(item) for item in stats.logprobs] if stats.logprobs is not None else None,
            yes_no_mass=stats.yes_no_mass,
        )

    def _generate(self, messages, metrics, started, settings) -> Iterator[str | AnalysisResult]:
        model = self._loaded()
        strip = settings.pop("strip_thinking", self.config.strip_thinking)
        generation = GenerationSettings.from_config(self.config, **settings)
        if generation.json_schema is not None:
            model.check_json_schema(generation.json_schema)  # an unusable schema fails before the model runs
        deltas: list[str] = []
        stream = answer(model, messages, generation, metrics, strip_thinking=strip, started=started)
        while True:
            try:
                delta = next(stream)
            except StopIteration as done:
                stats = done.value
                break
            deltas.append(delta)
            yield delta
        yield self._result("".join(deltas).strip(), stats, metrics)


def choose_backend(requested: str, model_type: str, reg: Registry) -> tuple[Backend, ModelFamily]:
    """The backend to run a ``model_type`` checkpoint, and its family for it.

    ``auto`` takes the available backend with the highest priority that has a family made for
    this model type, and only then one that merely has a fallback family.
    """
    backends: list[Backend] = reg.objects("backend")
    families: list[ModelFamily] = reg.objects("model family")
    if requested != "auto":
        backend = reg.find("backend", requested)
        if not backend.is_available():
            raise PluginNotFoundError(
                f"The {requested} backend is installed but cannot run: {backend.unavailable_reason()}."
            )
        family = select_family(model_type, backend.name, families)
        if family is None:
            raise PluginNotFoundError(f"The {requested} backend has no model family for model_type '{model_type}'.")
        return backend, family
    available = [backend for backend in available_by_priority(backends) if backend.local]  # remote: by name
    if not available:
        raise PluginNotFoundError(missing_message("backend", "torch", [b.name for b in backends]))
    for exact in (True, False):
        for backend in available:
            family = select_family(model_type, backend.name, families)
            if family is not None and (family.matches(model_type) or not exact):
                return backend, family
    raise PluginNotFoundError(
        f"No installed backend can run model_type '{model_type}' (available: {', '.join(b.name for b in available)})."
    )


def _last(stream: Iterator[str | AnalysisResult]) -> AnalysisResult:
    result = None
    for item in stream:
        result = item
    assert isinstance(result, AnalysisResult)
    return result
