"""A third-party plugin as someone outside the project would write it.

It adds a ``fake://`` frame source (a generated clip) and an ``echo`` backend whose model
answers with what it was shown. Tests install it as a real distribution (a dist-info with
an entry point) so discovery goes through importlib.metadata like any pip-installed plugin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trio_core import hookimpl
from trio_core.backends import Backend, LoadedModel, PreparedPrompt
from trio_core.chat import ImagePart, VideoPart
from trio_core.evaluation import EvalItem, EvalSuite
from trio_core.families import ModelFamily
from trio_core.frames import Frame
from trio_core.generation import RequestHook, finish_request, request_hooks, start_request
from trio_core.models import NamedModel
from trio_core.optimizers import Optimizer, Stage
from trio_core.sources import FrameSource


class FakeSource(FrameSource):
    name = "fake"
    schemes = ("fake",)

    def open(self, target, plan, config):
        count = min(plan.max_frames, 5)
        for index in range(count):
            image = np.full((32, 48, 3), index * 40, dtype=np.uint8)
            yield Frame(image=image, timestamp=index / plan.fps, index=index)


class EchoModel(LoadedModel):
    """Answers with what it was shown; optimizers take part in its requests through trio's request hooks."""

    backend = "echo"
    device = "cpu"
    dtype = "none"

    def __init__(self, family, model_dir):
        self.family = family
        self.model_dir = model_dir
        self.request_hooks = []

    def prepare(self, messages):
        frames = 0
        for part in messages[-1].parts:
            frames += len(part.frames) if isinstance(part, VideoPart) else isinstance(part, ImagePart)
        words = f"I saw {frames} frames and you asked: {messages[-1].text}".split(" ")
        inputs = {"words": words, "visual_tokens": frames}
        return PreparedPrompt(inputs=inputs, prompt_tokens=len(messages[-1].text.split()), visual_tokens=frames)

    def generate(self, prompt, settings, stats):
        request = start_request(self, dict(prompt.inputs), {}, stats)
        words = request.inputs["words"]
        for index, word in enumerate(words[: settings.max_tokens]):
            stats.token_ids.append(index)
            yield word if index == 0 else " " + word
        stats.completion_tokens = len(stats.token_ids)
        stats.finish_reason = "length" if len(words) > settings.max_tokens else "stop"
        finish_request(self, request)


class EchoBackend(Backend):
    name = "echo"
    priority = -1

    def is_available(self):
        return True

    def devices(self):
        return ["cpu"]

    def load(self, model_dir, family, config):
        return EchoModel(family, model_dir)


@hookimpl
def register_frame_sources(register):
    register(FakeSource())


@hookimpl
def register_backends(register):
    register(EchoBackend())


@hookimpl
def register_model_families(register):
    register(ModelFamily("echo", backend="echo", model_types=("echo",), video=True))


class Halve(Optimizer):
    """Reports that it halved the visual tokens (the echo model has nothing to optimize)."""

    name = "halve"
    stage = Stage.AFTER_ENCODER
    families = frozenset({"echo"})
    implementations = {"echo": "trio_echo:install_halve"}


class HalveHook(RequestHook):
    def before_generate(self, model, request):
        visual = request.inputs["visual_tokens"]
        request.stats.visual_token_steps.append(("halve", visual, visual // 2))


def install_halve(model, settings):
    request_hooks(model, "halve").append(HalveHook())


class FrameCountSuite(EvalSuite):
    """Asks how many frames each clip has; the echo model says it in its answer."""

    name = "frame-count"
    tasks = ("one", "several")

    def items(self, limit=None):
        per_task = limit or 3
        items = []
        for task, frames in (("one", 1), ("several", 3)):
            for index in range(per_task):
                clip = [np.full((16, 16, 3), 10 * (index + k), np.uint8) for k in range(frames)]
                media = clip[0] if frames == 1 else clip
                kind = "image" if frames == 1 else "video"
                items.append(EvalItem(task, "How many frames?", str(frames), media, kind=kind, fps=4.0))
        return items

    def is_correct(self, item, answer):
        # Wrong on purpose for one in three "several" items, so accuracy is not trivially 100%.
        return f"I saw {item.answer} frames" in answer and not (item.task == "several" and item.media[0][0, 0, 0] == 20)


@hookimpl
def register_optimizers(register):
    register(Halve())


@hookimpl
def register_eval_suites(register):
    register(FrameCountSuite())


@hookimpl
def register_models(register):
    register(NamedModel("echo-named", Path(__file__).with_name("echo-model"), "The echo model, by name."))
