"""Benchmark suites and the runner behind ``trio eval``.

A suite (a plugin, like everything else) gives a fixed list of questions about images or
clips with their right answers, and says whether an answer is right. The runner asks every
question under one or more engine configurations in the same run (``baseline`` = no
optimizer, ``tome``, ``tome+fastv``, ``all``, ...) and reports accuracy per task, mean
latency, prefill and visual tokens, cache hits, and accuracy retention and speedup
relative to the baseline.
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from .config import EngineConfig, load_config
from .errors import ConfigError


@dataclass
class EvalItem:
    """One question with its right answer. ``media`` is what a frame source reads (a path, an
    image array, or a list of frame arrays for a clip sampled at ``fps``)."""

    task: str
    question: str
    answer: str
    media: Any
    kind: str = "image"  # "image" or "video"
    fps: float = 2.0
    meta: dict = field(default_factory=dict)


class EvalSuite(ABC):
    """A benchmark: deterministic items, and a scorer for answers."""

    name: str
    description: str = ""
    tasks: tuple[str, ...] = ()

    @abstractmethod
    def items(self, limit: int | None = None) -> list[EvalItem]:
        """The suite's items, the same on every call; with ``limit``, at most that many per task."""

    @abstractmethod
    def is_correct(self, item: EvalItem, answer: str) -> bool:
        """Whether ``answer`` (the model's text) answers ``item`` correctly."""

    def describe(self) -> dict:
        return {"tasks": list(self.tasks), "description": self.description}


class TaskScore(BaseModel):
    task: str
    samples: int
    correct: int
    accuracy: float
    retention: float | None = None  # accuracy / the baseline's accuracy on this task


class ConfigScore(BaseModel):
    """How one engine configuration did on the whole suite."""

    name: str
    optimizers: list[str]
    tasks: list[TaskScore]
    accuracy: float
    retention: float | None = None
    mean_latency_ms: float
    mean_prefill_ms: float = 0.0
    speedup: float | None = None  # the baseline's mean latency / this configuration's
    mean_visual_tokens: float
    mean_visual_tokens_after: float
    cache_hits: dict[str, int] = {}  # answers that reused a cache, by the kind of hit


class EvalReport(BaseModel):
    suite: str
    model: str
    samples: int
    configs: list[ConfigScore]


def parse_configs(spec: str, installed_optimizers: list[str]) -> dict[str, list[str]]:
    """``"baseline,tome,tome+fastv,all"`` -> ``{"baseline": [], "tome": ["tome"], ...}``.

    ``baseline`` runs without optimizers, ``all`` with every installed one, and ``a+b`` with
    several; any other name is an optimizer.
    """
    configs: dict[str, list[str]] = {}
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        if name == "baseline":
            configs[name] = []
        elif name == "all":
            configs[name] = list(installed_optimizers)
        else:
            configs[name] = [part for part in name.split("+") if part]
    if not configs:
        raise ConfigError("Give at least one configuration to compare, e.g. --compare baseline,tome.")
    return configs


def run_eval(
    suite: EvalSuite,
    base: EngineConfig,
    configs: dict[str, list[str]],
    *,
    limit: int | None = None,
    progress: bool = True,
    backends: list[str] | None = None,
) -> EvalReport:
    """Ask every item under every configuration (one loaded engine at a time) and score the answers.

    With ``backends``, every configuration runs on each of them in turn (named ``tome@mlx``), and
    retention and speedup are relative to the first backend's baseline: the same weights, questions
    and frames on two engines, in one run.
    """
    from tqdm import tqdm

    from .pipeline import read_clip
    from .sdk import TrioCore

    items = suite.items(limit)
    scores = []
    runs = [
        (f"{name}@{backend}" if backends else name, optimizers, backend)
        for backend in backends or [None]
        for name, optimizers in configs.items()
    ]
    for name, optimizers, backend in runs:
        on = {"backend": backend} if backend else {}
        engine = TrioCore(load_config(base, optimizers=optimizers, **on)).load()
        outcomes = []
        try:
            for item in tqdm(items, desc=name, unit="q", disable=None if progress else True, leave=False):
                if item.kind == "video":
                    # The clip's own rate gives the frames their true times.
                    plan = replace(engine.video_plan(), fps=item.fps, max_frames=max(len(item.media), 1))
                    result = engine.analyze_video(read_clip(item.media, plan, engine.config), item.question)
                else:
                    result = engine.analyze_frame(item.media, item.question)
                outcomes.append((item, suite.is_correct(item, result.text), result.metrics))
        finally:
            engine.close()
        scores.append(_score(name, optimizers, suite, outcomes))
    _add_retention(scores)
    return EvalReport(suite=suite.name, model=base.model, samples=len(items), configs=scores)


def _score(name: str, optimizers: list[str], suite: EvalSuite, outcomes: list) -> ConfigScore:
    tasks = []
    for task in dict.fromkeys([*suite.tasks, *(item.task for item, _, _ in outcomes)]):
        marks = [correct for item, correct, _ in outcomes if item.task == task]
        if marks:
            tasks.append(TaskScore(task=task, samples=len(marks), correct=sum(marks), accuracy=sum(marks) / len(marks)))
    metrics = [m for _, _, m in outcomes]
    return ConfigScore(
        name=name,
        optimizers=optimizers,
        tasks=tasks,
        accuracy=sum(correct for _, correct, _ in outcomes) / max(1, len(outcomes)),
        mean_latency_ms=statistics.fmean(m.latency_ms for m in metrics) if metrics else 0.0,
        mean_prefill_ms=statistics.fmean(m.prefill_ms for m in metrics) if metrics else 0.0,
        cache_hits=dict(Counter(m.cache_hit for m in metrics if m.cache_hit != "none")),
        mean_visual_tokens=statistics.fmean(m.visual_tokens for m in metrics) if metrics else 0.0,
        mean_visual_tokens_after=statistics.fmean(m.visual_tokens_after for m in metrics) if metrics else 0.0,
    )


def _add_retention(scores: list[ConfigScore]) -> None:
    """Retention and speedup relative to the (first) configuration called ``baseline``, when there is one."""
    baseline = next((score for score in scores if score.name.split("@")[0] == "baseline"), None)
    if baseline is None:
        return
    by_task = {task.task: task.accuracy for task in baseline.tasks}
    for score in scores:
        score.retention = score.accuracy / baseline.accuracy if baseline.accuracy else None
        score.speedup = baseline.mean_latency_ms / score.mean_latency_ms if score.mean_latency_ms else None
        for task in score.tasks:
            reference = by_task.get(task.task)
            task.retention = task.accuracy / reference if reference else None


def render(report: EvalReport) -> str:
    """The side-by-side table ``trio eval`` prints."""
    names = [score.name for score in report.configs]
    width = 2 + max(len("100.0% (100%)"), *(len(name) for name in names))  # a cell and its gap
    header = f"{'task':<14}{'n':>5}  " + "".join(f"{name:>{width}}" for name in names)
    lines = [f"{report.suite} on {report.model}: {report.samples} questions", header, "-" * len(header)]

    def cell(accuracy: float, retention: float | None) -> str:
        text = f"{accuracy:.1%}"
        if retention is not None and len(report.configs) > 1:
            text += f" ({retention:.0%})"
        return f"{text:>{width}}"

    for position, task in enumerate(report.configs[0].tasks):
        row = f"{task.task:<14}{task.samples:>5}  "
        row += "".join(
            cell(score.tasks[position].accuracy, score.tasks[position].retention) for score in report.configs
        )
        lines.append(row)
    lines.append(f"{'all':<14}{report.samples:>5}  " + "".join(cell(s.accuracy, s.retention) for s in report.configs))
    lines.append(f"{'latency ms':<21}" + "".join(f"{s.mean_latency_ms:>{width}.1f}" for s in report.configs))
    lines.append(f"{'prefill ms':<21}" + "".join(f"{s.mean_prefill_ms:>{width}.1f}" for s in report.configs))
    lines.append(
        f"{'visual tokens':<21}"
        + "".join(f"{f'{s.mean_visual_tokens_after:.0f}/{s.mean_visual_tokens:.0f}':>{width}}" for s in report.configs)
    )
    if any(s.speedup is not None for s in report.configs) and len(report.configs) > 1:
        lines.append(
            f"{'speedup':<21}"
            + "".join(f"{f'{s.speedup:.2f}x' if s.speedup else '-':>{width}}" for s in report.configs)
        )
    if any(s.cache_hits for s in report.configs):
        hits = [", ".join(f"{kind} {n}" for kind, n in s.cache_hits.items()) or "-" for s in report.configs]
        lines.append(f"{'cache hits':<21}" + "".join(f"{hit:>{width}}" for hit in hits))
    if len(report.configs) > 1:
        lines.append(
            "(retention: accuracy relative to baseline; speedup: baseline latency / this latency, same questions "
            "in the same run; visual tokens: after/before optimizers)"
        )
    return "\n".join(lines)
