"""Several questions about one frame or clip are prepared with the media processed once: the same inputs as one by one."""

import numpy as np
import pytest
import torch

from tests.torch.engines import engine_for, noise_frames
from trio_core.chat import ImagePart, Message, TextPart, VideoPart
from trio_core.frames import Frame

QUESTIONS = ["Is there a dog?", "Is the door open? Answer yes or no.", "What colour is the car?"]


def conversation(media, question):
    return [Message(role="user", parts=[media, TextPart(question)])]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_prepare_each_gives_exactly_the_inputs_prepare_gives(family, kind, trio_checkpoint):
    engine = engine_for(trio_checkpoint(family))
    frames = [Frame(image, index / 2, index) for index, image in enumerate(noise_frames(4))]
    media = ImagePart(frames[0]) if kind == "image" else VideoPart(frames, fps=2.0)
    other = ImagePart(Frame(np.zeros_like(frames[0].image), 0.0, 0))  # a different frame: processed on its own
    conversations = [conversation(media, question) for question in QUESTIONS] + [conversation(other, QUESTIONS[0])]
    together = engine.model.prepare_each(conversations)
    alone = [engine.model.prepare(messages) for messages in conversations]
    for each, one in zip(together, alone, strict=True):
        assert set(each.inputs) == set(one.inputs)
        for name in one.inputs:
            assert torch.equal(each.inputs[name], one.inputs[name]), name
        assert (each.prompt_tokens, each.visual_tokens) == (one.prompt_tokens, one.visual_tokens)
    if family.startswith("qwen"):  # the media were processed once: the later questions hold the first one's pixels
        pixels = "pixel_values" if kind == "image" else "pixel_values_videos"
        assert together[1].inputs[pixels] is together[0].inputs[pixels] is together[2].inputs[pixels]
        assert together[3].inputs["pixel_values"] is not together[0].inputs.get("pixel_values")
