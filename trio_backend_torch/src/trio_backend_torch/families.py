"""Model families the torch backend runs, and how each turns a conversation into model inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trio_core.chat import ImagePart, Message, TextPart, VideoPart
from trio_core.families import ANY_MODEL_TYPE, ModelFamily


@dataclass(frozen=True)
class TorchFamily(ModelFamily):
    """A family as transformers runs it: which tokens end a turn, and how media reach the processor."""

    backend: str = "torch"
    # Chat-template tokens that end the assistant's turn; generation stops on them too.
    end_tokens: tuple[str, ...] = ()

    def build_inputs(self, processor, messages: list[Message], *, add_generation_prompt: bool = True):
        """Processor outputs (``input_ids``, ``pixel_values``...) for ``messages``, ready for ``generate``.

        With ``add_generation_prompt=False`` the conversation is encoded as it stands, assistant
        turns included: what a training step feeds the model.
        """
        chat, images, videos, metadata = self.to_chat(messages)
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=add_generation_prompt)
        kwargs: dict[str, Any] = {}
        if images:
            kwargs["images"] = images
        if videos:
            kwargs["videos"] = videos
            kwargs.update(self.video_kwargs(metadata))
        return processor(text=[text], return_tensors="pt", **kwargs)

    def to_chat(self, messages: list[Message]):
        """Messages in transformers' chat format, with the media they reference collected in order."""
        chat, images, videos, metadata = [], [], [], []
        for message in messages:
            content: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
                elif isinstance(part, ImagePart):
                    content.append({"type": "image"})
                    images.append(part.frame.image)
                elif isinstance(part, VideoPart) and self.video:
                    content.append({"type": "video"})
                    videos.append([frame.image for frame in part.frames])
                    metadata.append(video_metadata(part))
                elif isinstance(part, VideoPart):
                    # No native video: the frames become images, each labelled with its time.
                    for frame in part.frames:
                        content.append({"type": "text", "text": f"Frame at {frame.timestamp:.1f}s:"})
                        content.append({"type": "image"})
                        images.append(frame.image)
            chat.append({"role": message.role, "content": content})
        return chat, images, videos, metadata

    def video_kwargs(self, metadata: list[dict]) -> dict[str, Any]:
        """Processor arguments for videos: frames are already sampled, so the processor must not resample."""
        return {"video_metadata": metadata, "do_sample_frames": False}


def video_metadata(part: VideoPart) -> dict:
    """Describe sampled frames so the processor knows their true times (mRoPE time ids, timestamps).

    transformers reads a frame's time as ``frames_indices[i] / fps``: expressing the sample
    times on a grid of the effective sampling rate keeps both the rate and the times right.
    """
    times = [frame.timestamp for frame in part.frames]
    span = times[-1] - times[0]
    fps = (len(times) - 1) / span if len(times) > 1 and span > 0 else part.fps
    indices = [round(t * fps) for t in times]
    height, width = part.frames[0].image.shape[:2]
    return {
        "total_num_frames": indices[-1] + 1,
        "fps": fps,
        "frames_indices": indices,
        "duration": (indices[-1] + 1) / fps,
        "width": width,
        "height": height,
    }


QWEN_END = ("<|im_end|>",)

FAMILIES = (
    TorchFamily("qwen2_5_vl", model_types=("qwen2_5_vl",), video=True, end_tokens=QWEN_END),
    TorchFamily("qwen2_vl", model_types=("qwen2_vl",), video=True, end_tokens=QWEN_END),
    TorchFamily("qwen3_vl", model_types=("qwen3_vl",), video=True, end_tokens=QWEN_END),
    TorchFamily("smolvlm", model_types=("smolvlm",), video=True, end_tokens=("<end_of_utterance>",)),
    TorchFamily("idefics3", model_types=("idefics3",), video=False, end_tokens=("<end_of_utterance>",)),
    # Any other image-text-to-text checkpoint: sampled frames are given as images.
    TorchFamily("generic", model_types=(ANY_MODEL_TYPE,), video=False),
)
