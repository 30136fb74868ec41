"""A third-party plugin as someone outside the project would write it.

It adds a ``fake://`` frame source (a generated clip) and an ``echo`` backend whose model
answers with what it was shown. Tests install it as a real distribution (a dist-info with
an entry point) so discovery goes through importlib.metadata like any pip-installed plugin.
"""

from __future__ import annotations

import numpy as np

from trio_core import hookimpl
from trio_core.backends import Backend, LoadedModel, PreparedPrompt
from trio_core.chat import ImagePart, VideoPart
from trio_core.families import ModelFamily
from trio_core.frames import Frame
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
    backend = "echo"
    device = "cpu"
    dtype = "none"

    def __init__(self, family, model_dir):
        self.family = family
        self.model_dir = model_dir

    def prepare(self, messages):
        frames = 0
        for part in messages[-1].parts:
            frames += len(part.frames) if isinstance(part, VideoPart) else isinstance(part, ImagePart)
        words = f"I saw {frames} frames and you asked: {messages[-1].text}".split(" ")
        return PreparedPrompt(inputs=words, prompt_tokens=len(messages[-1].text.split()), visual_tokens=frames)

    def generate(self, prompt, settings, stats):
        for index, word in enumerate(prompt.inputs[: settings.max_tokens]):
            stats.token_ids.append(index)
            yield word if index == 0 else " " + word
        stats.completion_tokens = len(stats.token_ids)
        stats.finish_reason = "length" if len(prompt.inputs) > settings.max_tokens else "stop"


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
