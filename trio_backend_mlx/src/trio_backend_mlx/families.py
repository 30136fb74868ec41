"""Model families the MLX backend runs, and how each turns a conversation into mlx-vlm's model inputs.

Light on purpose (``trio plugins`` imports it): numpy, PIL and mlx load inside the methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trio_core.chat import Message
from trio_core.chat_templates import to_chat
from trio_core.errors import MediaError
from trio_core.families import ANY_MODEL_TYPE, ModelFamily


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint as its family builds inputs for it: its config.json, and how its video frames are
    sized when the family sizes them itself."""

    config: dict
    frame_sizing: FrameSizing | None = None


@dataclass(frozen=True)
class MLXFamily(ModelFamily):
    """A family as mlx-vlm runs it: the tokens that end a turn, and how media reach its processor."""

    backend: str = "mlx"
    # Chat-template tokens that end the assistant's turn; generation stops on them too.
    end_tokens: tuple[str, ...] = ()

    def checkpoint(self, processor, model_dir: Path, config: dict) -> Checkpoint:
        """What :meth:`build_inputs` needs to know of a loaded checkpoint; called once, at load (a family that
        sizes frames itself turns the processor's own sizing off here)."""
        return Checkpoint(config)

    def build_inputs(self, processor, messages: list[Message], checkpoint: Checkpoint) -> dict[str, Any]:
        """mlx-vlm's inputs for ``messages``: ``input_ids`` and whatever its model reads beside them (pixels,
        grids), as mlx arrays."""
        config = checkpoint.config
        from mlx_vlm.utils import prepare_inputs

        chat, images, _, _ = to_chat(messages, video=False)
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        inputs = prepare_inputs(
            processor,
            images=[pil_image(image) for image in images] or None,
            prompts=text,
            image_token_index=config.get("image_token_index", config.get("image_token_id")),
        )
        return {name: value for name, value in inputs.items() if name != "attention_mask" and value is not None}


@dataclass(frozen=True)
class QwenFamily(MLXFamily):
    """Qwen2-VL / Qwen2.5-VL / Qwen3-VL: native video, its frames sized and its mRoPE positions laid out as
    transformers does, so a video answers on MLX as it does on torch.

    ``time_scale``: Qwen2.5-VL places a video's temporal patches at their seconds (``tokens_per_second``),
    Qwen2-VL at their index; mlx-vlm counts both by index, so trio passes the positions itself. Qwen3-VL
    (``None``) writes the frames' times into the prompt instead, and sizes a video by its total budget, both
    as mlx-vlm's port does.
    """

    video: bool = True
    time_scale: bool | None = None
    frame_sizing: bool = True

    def checkpoint(self, processor, model_dir: Path, config: dict) -> Checkpoint:
        video = getattr(processor, "video_processor", None)
        if self.frame_sizing and video is not None:
            # transformers sizes each frame of a Qwen2/2.5-VL video on its own (build_inputs does it here);
            # mlx-vlm's port budgets the whole clip, Qwen3-VL's way: with its bounds open it only patchifies.
            import json

            settings = {}
            path = model_dir / "video_preprocessor_config.json"
            if path.is_file():
                settings = json.loads(path.read_text())
            sizing = FrameSizing.of(video, settings)
            video.min_pixels, video.max_pixels = 0, math.inf
            return Checkpoint(config, sizing)
        return Checkpoint(config)

    def build_inputs(self, processor, messages: list[Message], checkpoint: Checkpoint) -> dict[str, Any]:
        import mlx.core as mx
        import numpy as np

        chat, images, videos, metadata = to_chat(messages, video=True)
        if images and videos:
            raise MediaError(
                "mlx-vlm's Qwen-VL takes images or a video in one prompt, not both: ask about them separately."
            )
        if len(videos) > 1:
            raise MediaError("mlx-vlm's Qwen-VL takes one video per prompt: ask about each video separately.")
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        kwargs: dict[str, Any] = {}
        if images:
            kwargs["images"] = [pil_image(image) for image in images]
        if videos:
            frames = videos[0]
            if checkpoint.frame_sizing is not None:
                frames = checkpoint.frame_sizing.resize(frames)
            kwargs["videos"] = [np.stack(frames)]
            if self.time_scale is None:
                kwargs["video_metadata"] = metadata
        config = checkpoint.config
        inputs = dict(processor(text=[text], return_tensors="np", **kwargs))
        inputs.pop("attention_mask", None)
        if self.time_scale is not None and (images or videos):
            seconds = processor.video_processor.temporal_patch_size / metadata[0]["fps"] if videos else 0.0
            per_second = config.get("vision_config", {}).get("tokens_per_second", 2) if self.time_scale else None
            positions, delta = mrope_positions(
                np.asarray(inputs["input_ids"])[0],
                grids=np.asarray(inputs.get("image_grid_thw", inputs.get("video_grid_thw"))),
                media_token=config["image_token_id"] if images else config["video_token_id"],
                merge=processor.video_processor.merge_size,
                seconds_per_grid=seconds if videos else 0.0,
                tokens_per_second=per_second,
            )
            inputs["position_ids"] = mx.array(positions[:, None, :])  # (3, batch, length)
            inputs["rope_deltas"] = mx.array([[delta]])
        return {name: value if isinstance(value, mx.array) else mx.array(value) for name, value in inputs.items()}


@dataclass(frozen=True)
class FrameSizing:
    """transformers' per-frame sizing of a Qwen2/2.5-VL video: each frame within the pixel bounds, sides a
    multiple of the patch merge, and (``cap_pixels_per_frame``) an even share of the clip's token budget."""

    factor: int
    min_pixels: int
    max_pixels: int
    temporal: int
    budget: int | None  # the clip's pixel budget, when capped per frame

    @classmethod
    def of(cls, video, settings: dict) -> FrameSizing:
        factor = video.patch_size * video.merge_size
        budget = None
        if settings.get("cap_pixels_per_frame"):
            budget = int(settings.get("max_video_tokens", 128000) * factor * factor * 0.9)
        return cls(factor, int(video.min_pixels), int(video.max_pixels), video.temporal_patch_size, budget)

    def resize(self, frames: list) -> list:
        from PIL import Image

        height, width = frames[0].shape[:2]
        ceiling = self.max_pixels
        if self.budget is not None:
            ceiling = max(min(ceiling, self.budget * self.temporal // len(frames)), int(self.min_pixels * 1.05))
        size = smart_resize(height, width, self.factor, self.min_pixels, ceiling)
        if size == (height, width):
            return frames
        import numpy as np

        return [
            np.asarray(Image.fromarray(frame).resize((size[1], size[0]), Image.Resampling.BICUBIC)) for frame in frames
        ]


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: float) -> tuple[int, int]:
    """Qwen-VL's frame size: sides rounded to ``factor``, the area brought within the pixel bounds."""
    if max(height, width) / min(height, width) > 200:
        raise MediaError(f"A {width}x{height} frame is too narrow for Qwen-VL (aspect ratio over 200): crop it.")
    h_bar, w_bar = max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def mrope_positions(input_ids, *, grids, media_token: int, merge: int, seconds_per_grid: float, tokens_per_second):
    """Qwen-VL's multimodal rotary positions of one prompt, ``((3, length), delta)``, as transformers lays them out.

    Text tokens count up on all three rows; a run of media tokens (one per ``grids`` row, in order) takes
    (time, row, column) positions from where the text stopped, and the text after it continues past its
    longer side (transformers 5; mlx-vlm continues past its largest position). Time is the temporal patch's
    index, or its seconds times ``tokens_per_second`` (Qwen2.5-VL). ``delta`` is what decoding adds to a
    token's index: the largest position + 1 - the length.
    """
    import numpy as np

    length = len(input_ids)
    positions = np.zeros((3, length), dtype=np.int64)
    is_media = np.asarray(input_ids) == media_token
    index, following, grid_index = 0, 0, 0
    while index < length:
        if not is_media[index]:
            positions[:, index] = following
            following += 1
            index += 1
            continue
        t, h, w = (int(value) for value in grids[grid_index])
        h, w = h // merge, w // merge
        grid_index += 1
        times = np.arange(t)
        if tokens_per_second is not None:
            times = (times * (tokens_per_second * seconds_per_grid)).astype(np.int64)
        block = np.stack(
            [np.repeat(times, h * w), np.tile(np.repeat(np.arange(h), w), t), np.tile(np.arange(w), t * h)]
        )
        positions[:, index : index + t * h * w] = block + following
        following += max(h, w)
        index += t * h * w
    return positions, int(positions.max(initial=-1)) + 1 - length


def pil_image(image):
    """A frame (an RGB array) as the PIL image mlx-vlm's processors take."""
    from PIL import Image

    return Image.fromarray(image)


QWEN_END = ("<|im_end|>",)

FAMILIES = (
    QwenFamily("qwen2_5_vl", model_types=("qwen2_5_vl",), end_tokens=QWEN_END, time_scale=True),
    QwenFamily("qwen2_vl", model_types=("qwen2_vl",), end_tokens=QWEN_END, time_scale=False),
    QwenFamily("qwen3_vl", model_types=("qwen3_vl",), end_tokens=QWEN_END, frame_sizing=False),
    MLXFamily("smolvlm", model_types=("smolvlm",), end_tokens=("<end_of_utterance>",)),
    # Any other model mlx-vlm runs: sampled frames are given as images.
    MLXFamily("generic", model_types=(ANY_MODEL_TYPE,)),
)
