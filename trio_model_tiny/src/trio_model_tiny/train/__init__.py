"""Train trio-tiny: a genuine Qwen2.5-VL, small enough to train on 2 CPU cores, on synthetic scenes.

    python -m trio_model_tiny.train --out DIR     # 3,600 steps from scratch, 67 minutes on 2 CPU cores

The shipped weights took five stages (docs/trio-tiny.md, "Training", has the measurements):

    python -m trio_model_tiny.train --out stage1 --pooled-weight 0     # 70 minutes
    python -m trio_model_tiny.train --init stage1 --out stage2 --steps 1000 --seed 1 --lr 1e-3   # 23 minutes
    python -m trio_model_tiny.train --init stage2 --out stage3 --steps 1200 --seed 2 --lr 1.5e-3 --object-targets  # 27 minutes
    python -m trio_model_tiny.train --init stage3 --out stage4 --steps 2000 --seed 3 --lr 1e-3 --object-targets    # 46 minutes
    python -m trio_model_tiny.train --init stage4 --out stage5 --steps 1600 --seed 4 --lr 1e-3 --object-targets --clip-presence  # 41 minutes

(each with --validate-every 0) and stage5 is what trio_model_tiny/src/trio_model_tiny/weights holds.

A run is seeded and reproducible on one machine (same seed, same steps, same torch build -> the same
weights; thread scheduling can change float sums across machines). It writes a
standard Hugging Face checkpoint (config, safetensors, tokenizer, processor, chat template),
so transformers and mlx-vlm load it as they load Qwen/Qwen2.5-VL-3B-Instruct. CI does not
retrain; the weights ship inside the trio-model-tiny package.

Inputs are built by trio's own torch family (`TorchFamily.build_inputs`) from trio's own
message types, so training and inference cannot drift apart.

How a model this small learns to read its visual tokens in an hour (docs/trio-tiny.md has
the measurements behind each choice):

- Several questions per scene, each its own one-question row: the vision encoder runs once
  and every answer is a training signal for the same visual tokens.
- Grounding (training only): every visual token the vision encoder hands to the LLM is
  pulled towards a fixed code for the colour, shape, 3x3 region and motion of the object
  under it. Distinct, salient visual tokens are what the LLM can learn to read quickly.
  And each object as a whole (the mean of its tokens) must name its shape and, if it
  moves, its direction (--pooled-weight). With --object-targets, also a code for the
  colour and shape together (so "purple square" is one thing to look for, not two) and
  one for the token under each object's centre (one token per object, to count).
- Attention guidance (training only): two heads of one LLM layer are told where to look:
  at the answer's first position, their attention should fall on the visual tokens of the
  object the question is about. The answer loss alone finds this slowly, because attention
  starts out spread evenly over hundreds of visual tokens. With --object-targets, a
  question about something absent looks at <|vision_start|> instead, and a count question
  spreads its attention evenly over that token and the centre of each counted object.

None of the helpers is part of the saved model: trio-tiny is a plain Qwen2.5-VL.

This is a development tool, not part of the plugin: installed by the ``train`` extra
(``pip install -e './trio_model_tiny[train]'``), it uses trio-backend-torch's test helpers to
build the tokenizer and lay out the processor files. Nothing else in trio_model_tiny imports it,
so the model's registration and the benchmark stay free of torch.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from trio_backend_torch.families import FAMILIES
from trio_backend_torch.tiny import build_tokenizer, save_processor
from trio_core.chat import ImagePart, Message, TextPart, VideoPart
from trio_core.frames import Frame
from trio_model_tiny.questions import (
    TASKS,
    TRAIN_SEED_BASE,
    VALIDATION_SEED,
    Sample,
    corpus,
    counted,
    follow_ups,
    is_correct,
    make_sample,
)
from trio_model_tiny.scenes import COLOURS, DIRECTIONS, POSITIONS, SHAPES, SceneObject, position_word

# Default resolution: a 448x448 image is 32x32 patches of 14 px, merged 2x2 into 16x16 = 256
# visual tokens; a video frame is at most 224x224, 64 tokens per pair of frames.
IMAGE_PIXELS = 448 * 448
VIDEO_PIXELS = 224 * 224

# A step is all images of one size, or all clips, so rows pad to similar lengths. Small
# images are cheap steps; the benchmark asks at 448, so 448 is drawn most.
IMAGE_SIZES = (224, 336, 448)
IMAGE_SIZE_WEIGHTS = (0.2, 0.2, 0.6)
EARLY_PART = 0.4
EARLY_SIZE_WEIGHTS = (0.75, 0.25, 0.0)
CLIP_STEP_SHARE = 0.3

# How often each task opens a conversation: counting and positions are harder than presence.
IMAGE_TASK_WEIGHTS = {"presence": 1.0, "colour": 1.0, "count": 2.0, "position": 1.5, "description": 1.0}
CLIP_TASK_WEIGHTS = {"motion": 1.0, "appearance": 1.0}
IMAGE_FOLLOW_UPS = 3
CLIP_FOLLOW_UPS = 2

FAMILY = next(family for family in FAMILIES if family.name == "qwen2_5_vl")


def build_processor() -> Qwen2_5_VLProcessor:
    tokenizer = build_tokenizer("qwen2_5_vl", corpus=corpus(), vocab_size=512)
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": IMAGE_PIXELS},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": VIDEO_PIXELS},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        cap_pixels_per_frame=True,
    )
    return Qwen2_5_VLProcessor(image_processor, tokenizer, video_processor, chat_template=tokenizer.chat_template)


def build_config(tokenizer) -> Qwen2_5_VLConfig:
    """Qwen2.5-VL's architecture at small widths: windowed vision blocks with full-attention ones, mRoPE."""
    vocab = tokenizer.get_vocab()
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
        "bos_token_id": vocab["<|endoftext|>"],
        "eos_token_id": vocab["<|im_end|>"],
        "pad_token_id": vocab["<|endoftext|>"],
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": 4,
        "hidden_size": 96,
        "intermediate_size": 256,
        "num_heads": 4,
        "out_hidden_size": 128,
        "fullatt_block_indexes": [1, 3],
        "window_size": 112,
        "hidden_act": "silu",
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )


# --- conversations -------------------------------------------------------------------------


@dataclass
class Turn:
    """One question and its answer; ``meta`` as in Sample.meta (``target`` names the object asked about)."""

    task: str
    question: str
    answer: str
    meta: dict


def media_part(sample: Sample) -> ImagePart | VideoPart:
    """The sample's image or clip as trio's pipeline hands it to a model family."""
    if sample.kind == "image":
        return ImagePart(Frame(sample.media, 0.0, 0))
    frames = tuple(Frame(image, index / sample.fps, index) for index, image in enumerate(sample.media))
    return VideoPart(frames, sample.fps)


def conversation(sample: Sample, turn: Turn) -> list[Message]:
    """The media and the question in one user message, as `trio analyze` asks, then the answer."""
    return [
        Message("user", [media_part(sample), TextPart(turn.question)]),
        Message("assistant", [TextPart(turn.answer)]),
    ]


def draw_turns(sample: Sample, rng: np.random.Generator, clip_presence: bool = False) -> list[Turn]:
    """The sample's own question and follow-ups about the same scene: one vision pass, several answers.

    With ``clip_presence`` a clip's follow-ups also ask "is there X?" (so `trio analyze
    clip.mp4 -q "Is there a red circle?"` gets a meaningful answer).
    """
    count = CLIP_FOLLOW_UPS if sample.kind == "video" else IMAGE_FOLLOW_UPS
    first = Turn(sample.task, sample.question, sample.answer, sample.meta)
    clip_tasks = ("appearance", "presence") if clip_presence else ("appearance",)
    return [first, *(Turn(*made) for made in follow_ups(sample, rng, count, clip_tasks))]


# --- what each visual token shows ----------------------------------------------------------

CELL = 28  # pixels per visual token: 14-pixel patches merged 2x2


def covered_cells(obj: SceneObject, side: int) -> np.ndarray:
    """Raster indices of the visual tokens that show any part of ``obj`` (generously: its bounding circle)."""
    centres = (np.arange(side // CELL) + 0.5) * CELL
    cy, cx = np.meshgrid(centres, centres, indexing="ij")  # (cells, cells), raster order
    near = np.hypot(cx - obj.x, cy - obj.y) < obj.radius + CELL / 4
    near.reshape(-1)[centre_cell(obj, side)] = True
    return np.flatnonzero(near.reshape(-1))


def centre_cell(obj: SceneObject, side: int) -> int:
    """Raster index of the visual token under the object's centre: one token per object, to count."""
    cells = side // CELL
    return min(int(obj.y // CELL), cells - 1) * cells + min(int(obj.x // CELL), cells - 1)


def region(obj: SceneObject, side: int) -> int:
    """The object's cell of the 3x3 grid the position answers name (0 = top left, 8 = bottom right).

    Learned late (run 5): the encoder's tokens gave this code back at chance after 1,200
    steps and on 72% of object tokens after 3,600. The vision encoder has only relative
    (rotary) positions and seems to find absolute ones from the image's borders.
    """
    return POSITIONS.index(position_word(obj.x, obj.y, side))


CODE_COLUMNS = ("colour", "shape", "region", "motion", "thing", "centre")


def thing(obj: SceneObject) -> int:
    """The index of the object's colour-and-shape pair (one code per pair)."""
    return list(COLOURS).index(obj.colour) * len(SHAPES) + SHAPES.index(obj.shape)


def cell_codes(objects: list[SceneObject], side: int, motion: tuple | None = None) -> np.ndarray:
    """Per visual token of one frame: one code index per CODE_COLUMNS entry; -1 where it does not apply.

    ``motion`` is ``(colour, shape, direction)`` of the object that moves in a clip. "thing"
    is the colour and shape together (one code per pair), "centre" marks the token under an
    object's centre.
    """
    codes = np.full(((side // CELL) ** 2, len(CODE_COLUMNS)), -1, dtype=np.int64)
    for obj in objects:
        moving = motion is not None and (obj.colour, obj.shape) == motion[:2]
        code = (
            list(COLOURS).index(obj.colour),
            SHAPES.index(obj.shape),
            region(obj, side),
            DIRECTIONS.index(motion[2]) if moving else -1,
            thing(obj),
            -1,
        )
        codes[covered_cells(obj, side)] = code
        codes[centre_cell(obj, side), CODE_COLUMNS.index("centre")] = 0
    return codes


def sample_codes(sample: Sample) -> np.ndarray:
    """Codes for every visual token of a sample, in the order the vision encoder emits them.

    A clip's token covers two frames (one temporal patch): it shows what either frame shows.
    """
    if sample.kind == "image":
        return cell_codes(sample.meta["objects"], sample.media.shape[0])
    side = sample.media[0].shape[0]
    event = sample.meta["event"]
    motion = (event["colour"], event["shape"], event["direction"]) if event.get("type") == "move" else None
    per_frame = sample.meta["objects_per_frame"]
    patches = []
    for first in range(0, len(per_frame) - 1, 2):
        a, b = (cell_codes(per_frame[i], side, motion) for i in (first, first + 1))
        patches.append(np.where(a >= 0, a, b))
    return np.concatenate(patches)


def placed_objects(sample: Sample) -> list[tuple[np.ndarray, SceneObject]]:
    """Each object with the visual tokens (indices among the sample's) that show it.

    A clip's temporal patch covers two frames, so an object comes once per frame that shows it.
    """
    if sample.kind == "image":
        side = sample.media.shape[0]
        return [(covered_cells(obj, side), obj) for obj in sample.meta["objects"]]
    side = sample.media[0].shape[0]
    per_patch = (side // CELL) ** 2
    per_frame = sample.meta["objects_per_frame"]
    return [
        (patch * per_patch + covered_cells(obj, side), obj)
        for patch, first in enumerate(range(0, len(per_frame) - 1, 2))
        for obj in per_frame[first] + per_frame[first + 1]
    ]


def object_cells(sample: Sample) -> list[tuple[np.ndarray, int, int, int]]:
    """Every object the vision encoder sees: (its visual tokens, shape index, direction index or -1, thing index)."""
    event = sample.meta.get("event", {})
    mover = (event["colour"], event["shape"]) if event.get("type") == "move" else None
    return [
        (
            cells,
            SHAPES.index(obj.shape),
            DIRECTIONS.index(event["direction"]) if (obj.colour, obj.shape) == mover else -1,
            thing(obj),
        )
        for cells, obj in placed_objects(sample)
    ]


def attention_cells(sample: Sample, turn: Turn) -> np.ndarray | None:
    """Visual tokens (indices among the sample's visual tokens) that show what ``turn`` asks about.

    None when the answer does not rest on one object: counts, descriptions, and "no" answers
    about something that is not there.
    """
    if turn.task in ("count", "description") or "target" not in turn.meta:
        return None
    if turn.task in ("presence", "appearance") and turn.answer != "yes":
        return None
    target = tuple(turn.meta["target"])
    hits = [cells for cells, obj in placed_objects(sample) if (obj.colour, obj.shape) == target]
    if not hits:
        return None
    hits = np.concatenate(hits)
    return hits if sample.kind == "image" else np.unique(hits)  # a clip shows an object in both frames of a patch


def counted_cells(sample: Sample, turn: Turn) -> np.ndarray:
    """The centre token of every object a count question counts (empty for "0")."""
    side = sample.media.shape[0]
    return np.array(
        [centre_cell(obj, side) for obj in sample.meta["objects"] if counted(obj, turn.meta["target"])],
        dtype=np.int64,
    )


# --- model inputs ----------------------------------------------------------------------------


class Encoder:
    """Turns a sample and one question about it into model inputs, answer labels and attention targets."""

    def __init__(self, processor, object_targets: bool = False):
        self.processor = processor
        self.object_targets = object_targets
        tokenizer = processor.tokenizer
        self.sink = tokenizer.convert_tokens_to_ids("<|vision_start|>")
        self.header = tokenizer("<|im_start|>assistant\n")["input_ids"]
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.visual = {
            tokenizer.convert_tokens_to_ids("<|image_pad|>"),
            tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        }
        self.pad = tokenizer.pad_token_id

    def __call__(self, sample: Sample, turn: Turn) -> dict:
        inputs = FAMILY.build_inputs(self.processor, conversation(sample, turn), add_generation_prompt=False)
        ids = inputs["input_ids"][0]
        start = self.answer_start(ids.tolist())
        stop = start + int((ids[start:] == self.end).nonzero()[0]) + 1  # the answer and its <|im_end|>
        labels = torch.full_like(ids, -100)
        labels[start:stop] = ids[start:stop]
        return {**inputs, "labels": labels[None], "looks": self.looks(sample, turn, ids, start - 1)}

    def looks(self, sample: Sample, turn: Turn, ids: torch.Tensor, query: int) -> list[tuple]:
        """Where the guided heads should look from ``query`` (the position that predicts the answer).

        Each entry is (query, key positions, spread): the attention mass should fall on the
        keys, and with ``spread`` fall evenly on each of them. With ``object_targets``,
        questions about nothing look at the <|vision_start|> token (a place to look when
        nothing matches), and a count question spreads its attention evenly over that token
        and the centre token of each object it counts, so that the share of the attention
        off the marker says how many there are.
        """
        visual = torch.tensor([int(token) in self.visual for token in ids]).nonzero()[:, 0]
        cells = attention_cells(sample, turn)
        if cells is not None:
            return [(query, visual[torch.from_numpy(cells)], False)]
        if not self.object_targets:
            return []
        sink = (ids == self.sink).nonzero()[:1, 0]
        if turn.task == "presence" and turn.answer == "no":
            return [(query, sink, False)]
        if turn.task == "count" and sample.kind == "image":
            return [(query, torch.cat([sink, visual[torch.from_numpy(counted_cells(sample, turn))]]), True)]
        return []

    def answer_start(self, ids: list[int]) -> int:
        n = len(self.header)
        return next(i + n for i in range(len(ids) - n, -1, -1) if ids[i : i + n] == self.header)


def collate(rows: list[dict], owners: list[int], pad: int) -> dict:
    """One batch of single-question rows; ``owners[r]`` is the scene row r asks about.

    Text is padded on the right. The pixels go in once per scene (the first row of each
    scene carries them): `forward` encodes every scene once and shares it among its rows.
    """
    length = max(row["input_ids"].shape[1] for row in rows)
    batch = {
        "input_ids": torch.full((len(rows), length), pad, dtype=torch.long),
        "attention_mask": torch.zeros((len(rows), length), dtype=torch.long),
        "mm_token_type_ids": torch.zeros((len(rows), length), dtype=torch.long),  # what mRoPE positions are built from
        "labels": torch.full((len(rows), length), -100, dtype=torch.long),
    }
    for index, row in enumerate(rows):
        n = row["input_ids"].shape[1]
        for key in ("input_ids", "attention_mask", "mm_token_type_ids", "labels"):
            batch[key][index, :n] = row[key][0]
    firsts = [owners.index(scene) for scene in sorted(set(owners))]
    for pixels, grid in (("pixel_values", "image_grid_thw"), ("pixel_values_videos", "video_grid_thw")):
        if pixels in rows[0]:
            batch["scene_pixels"] = torch.cat([rows[i][pixels] for i in firsts])
            batch["scene_grid_thw"] = torch.cat([rows[i][grid] for i in firsts])
            batch[grid] = torch.cat([row[grid] for row in rows])
            batch["media"] = "image" if pixels == "pixel_values" else "video"
    if "second_per_grid_ts" in rows[0]:
        batch["second_per_grid_ts"] = torch.cat([torch.as_tensor(row["second_per_grid_ts"]) for row in rows])
    batch["owners"] = torch.tensor(owners)
    return batch


def forward(model, batch: dict, **kwargs):
    """The model on a batch, with each scene through the vision encoder once, however many rows ask about it."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    inputs = dict(batch)
    media, pixels, grid, owners = (inputs.pop(key) for key in ("media", "scene_pixels", "scene_grid_thw", "owners"))
    encode = model.model.get_image_features if media == "image" else model.model.get_video_features
    scenes = encode(pixels, grid, return_dict=True).pooler_output  # one (tokens, width) per scene
    shared = BaseModelOutputWithPooling(pooler_output=tuple(scenes[int(owner)] for owner in owners))
    return model(**inputs, mm_encoder_outputs={media: shared}, **kwargs)


# --- the training-only helpers ---------------------------------------------------------------

GROUNDING_WEIGHT = 2.0
ATTENTION_WEIGHT = 0.5
# Heads (layer, heads) whose attention is guided; the other heads and layers learn freely.
GUIDED_LAYER = 1
GUIDED_HEADS = (0, 1)


class Grounding(torch.nn.Module):
    """Tells the vision encoder what each of its output tokens should look like to the LLM.

    Every visual token is pulled towards a fixed code: the sum of random vectors for the
    colour, shape, 3x3 region and motion of the object under it, or a background vector.
    Measured: with features like these handed in directly, the LLM learns to answer colour
    questions within 100 steps; with the encoder's own features and only the answer loss
    (or classifier heads on the features), it stayed at chance for 1,000 steps, because what
    tells the objects apart was a small part of large, mostly shared feature vectors.
    The codes are training-only: the saved model is a plain Qwen2.5-VL.
    """

    # The codes are the same for every run: a later stage (--init) must aim at the codes its
    # checkpoint learned, whatever --seed it draws its data with.
    CODE_SEED = 0

    def __init__(self, model, pooled_weight: float = 1.0, object_targets: bool = False):
        super().__init__()
        self.pooled_weight = pooled_weight
        self.object_targets = object_targets
        width = model.config.text_config.hidden_size
        generator = torch.Generator().manual_seed(self.CODE_SEED)
        sizes = (len(COLOURS), len(SHAPES), 9, len(DIRECTIONS))
        for name, size in zip(("colour", "shape", "region", "motion"), sizes, strict=True):
            self.register_buffer(name, torch.randn(size, width, generator=generator), persistent=False)
        self.register_buffer("background", torch.randn(width, generator=generator), persistent=False)
        # drawn after the others, so that a stage with them keeps the codes of one without
        for name, size in (("thing", len(COLOURS) * len(SHAPES)), ("centre", 1)):
            self.register_buffer(name, torch.randn(size, width, generator=generator), persistent=False)
        self.columns = CODE_COLUMNS if object_targets else CODE_COLUMNS[:4]
        self.captured: list[torch.Tensor] = []
        model.model.visual.register_forward_hook(self.capture)

    def capture(self, module, args, output) -> None:
        if module.training:  # validation's generate calls are not scored
            self.captured.append(output.pooler_output)

    def targets(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each token's code vector, and which tokens show an object."""
        on = codes >= 0
        target = self.background.expand(codes.shape[0], -1).clone()
        objects = on[:, 0]
        target[objects] = 0
        for column, name in enumerate(self.columns):
            table = getattr(self, name)
            target[on[:, column]] += table[codes[on[:, column], column]]
        return target, objects

    def loss(self, samples: list[Sample]) -> torch.Tensor:
        tokens = torch.cat(self.captured)  # (visual tokens of the batch, width)
        self.captured.clear()
        per_sample = [sample_codes(sample) for sample in samples]
        codes = torch.from_numpy(np.concatenate(per_sample))
        if codes.shape[0] != tokens.shape[0]:
            raise RuntimeError(f"grounding codes ({codes.shape[0]}) do not match visual tokens ({tokens.shape[0]})")
        target, objects = self.targets(codes)
        error = (tokens - target).pow(2).mean(-1)
        # objects cover a few tokens in a hundred; they weigh as much as the background
        matched = error[~objects].mean() + (error[objects].mean() if objects.any() else 0.0)
        if not self.pooled_weight:
            return matched
        return matched + self.pooled_weight * self.pooled_loss(tokens, samples, [len(c) for c in per_sample])

    def pooled_loss(self, tokens: torch.Tensor, samples: list[Sample], lengths: list[int]) -> torch.Tensor:
        """Cross-entropy of each object's shape (and a mover's direction) read from its tokens' mean.

        The logits are dot products with the same fixed codes, so this sharpens the
        direction the LLM reads instead of adding a second one. Measured with the encoder
        alone, 300 steps at 448: objects' shapes read back right 63% of the time with this
        term, 49% with the per-token pull alone (and not faster with a wider or deeper
        encoder, a higher learning rate or a heavier shape code).
        """
        scale = self.shape.shape[1] ** -0.5
        pooled, shapes, things, moving, directions = [], [], [], [], []
        offset = 0
        for sample, count in zip(samples, lengths, strict=True):
            for cells, shape, direction, thing in object_cells(sample):
                pooled.append(tokens[offset + torch.from_numpy(cells)].mean(0))
                shapes.append(shape)
                things.append(thing)
                if direction >= 0:
                    moving.append(len(pooled) - 1)
                    directions.append(direction)
            offset += count
        if not pooled:
            return tokens.new_zeros(())
        means = torch.stack(pooled) * scale
        loss = torch.nn.functional.cross_entropy(means @ self.shape.T, torch.tensor(shapes))
        if self.object_targets:
            loss = loss + torch.nn.functional.cross_entropy(means @ self.thing.T, torch.tensor(things))
        if moving:
            loss = loss + torch.nn.functional.cross_entropy(means[moving] @ self.motion.T, torch.tensor(directions))
        return loss


def attention_loss(attentions, items: list[dict]) -> torch.Tensor:
    """Mean over guided heads and questions of -log(attention mass on the tokens to look at).

    A spread look scores -log of each key's attention, averaged: least when the attention is
    shared evenly among its keys and nothing else.
    """
    weights = attentions[GUIDED_LAYER][:, list(GUIDED_HEADS)]  # (batch, guided heads, query, key)
    losses = [
        -torch.log(weights[row, :, query, keys] + 1e-6).mean()
        if spread
        else -torch.log(weights[row, :, query, keys].sum(-1) + 1e-6).mean()
        for row, item in enumerate(items)
        for query, keys, spread in item["looks"]
    ]
    return torch.stack(losses).mean() if losses else weights.new_zeros(())


# --- speed -----------------------------------------------------------------------------------


def batched_window_attention(model) -> None:
    """Run each vision block's attention as one call over all its windows (training speed only).

    transformers' SDPA path loops over the attention windows one call at a time (hundreds per
    step here). In a training batch every window has the same length, so they stack into one
    batched call that computes exactly the same thing; other shapes take transformers' path.
    """
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    for block in model.model.visual.blocks:
        attention = block.attn
        original = attention.forward

        def forward(
            hidden_states, cu_seqlens, position_embeddings=None, *args, _self=attention, _original=original, **kwargs
        ):
            lengths = cu_seqlens[1:] - cu_seqlens[:-1]
            if position_embeddings is None or not bool((lengths == lengths[0]).all()):
                return _original(hidden_states, cu_seqlens, position_embeddings, *args, **kwargs)
            tokens = hidden_states.shape[0]
            q, k, v = _self.qkv(hidden_states).reshape(tokens, 3, _self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            q, k = apply_rotary_pos_emb_vision(q, k, *position_embeddings)
            windows = len(lengths)
            # (tokens, heads, dim) -> (windows, heads, window length, dim)
            q, k, v = (t.reshape(windows, -1, _self.num_heads, t.shape[-1]).transpose(1, 2) for t in (q, k, v))
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=_self.scaling)
            return _self.proj(out.transpose(1, 2).reshape(tokens, -1))

        attention.forward = forward


# --- the loop -------------------------------------------------------------------------------


def draw_batch(rng: np.random.Generator, batch_size: int, progress: float) -> list[Sample]:
    """One step's samples: all clips, or all images of one size (similar lengths, little padding).

    The first part of training is mostly small images: cheap steps (64 visual tokens a 224-pixel
    image instead of 256) while the LLM learns to read. The benchmark asks at 448, so 448 leads later.
    """
    if rng.random() < CLIP_STEP_SHARE:
        weights, size = CLIP_TASK_WEIGHTS, 448
    else:
        size_weights = EARLY_SIZE_WEIGHTS if progress < EARLY_PART else IMAGE_SIZE_WEIGHTS
        weights, size = IMAGE_TASK_WEIGHTS, int(rng.choice(IMAGE_SIZES, p=size_weights))
    p = np.array(list(weights.values()))
    tasks = rng.choice(list(weights), size=batch_size, p=p / p.sum())
    return [make_sample(str(task), rng, image_size=size) for task in tasks]


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def validate(model, processor, per_task: int) -> dict[str, float]:
    """Greedy accuracy per task on validation scenes (their own seed: neither training's nor the benchmark's)."""
    model.eval()
    correct = {task: 0 for task in TASKS}
    for task_index, task in enumerate(TASKS):
        for index in range(per_task):
            sample = make_sample(task, np.random.default_rng([VALIDATION_SEED, task_index, index]))
            messages = [Message("user", [media_part(sample), TextPart(sample.question)])]
            inputs = FAMILY.build_inputs(processor, messages)
            output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
            answer = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            correct[task] += is_correct(sample, answer)
    model.train()
    return {task: correct[task] / per_task for task in TASKS}


def save(model, processor, out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_processor(processor, out)
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")


def train(
    out: Path,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    threads: int,
    log_every: int,
    validate_every: int,
    init: Path | None = None,
    pooled_weight: float = 1.0,
    object_targets: bool = False,
    clip_presence: bool = False,
) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    processor = build_processor()
    config = build_config(processor.tokenizer)
    if init is None:
        model = Qwen2_5_VLForConditionalGeneration(config)
    else:  # a further stage from a checkpoint: its model already reads, so no small-image warm-up
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(init)
        if model.config.text_config.vocab_size != config.text_config.vocab_size:
            raise SystemExit(f"{init} was trained with another tokenizer")
    model.set_attn_implementation({"text_config": "eager"})  # attention weights for the guided heads
    batched_window_attention(model)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    parameters = sum(p.numel() for p in model.parameters())
    print(f"trio-tiny: {parameters / 1e6:.2f} M parameters, {steps} steps of {batch_size} scenes", flush=True)
    encode = Encoder(processor, object_targets)
    grounding = Grounding(model, pooled_weight, object_targets)
    trained = list(model.parameters())
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    model.train()
    started = time.time()
    history: dict[str, list[float]] = {"answer": [], "grounding": [], "attention": []}
    validation = {}
    for step in range(steps):
        rng = np.random.default_rng([TRAIN_SEED_BASE, seed, step])
        samples = draw_batch(rng, batch_size, 1.0 if init else step / steps)
        rows, owners = [], []
        for index, sample in enumerate(samples):
            for turn in draw_turns(sample, rng, clip_presence):
                rows.append(encode(sample, turn))
                owners.append(index)
        batch = collate(rows, owners, encode.pad)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup=min(200, steps // 10))
        outputs = forward(model, batch, output_attentions=True)
        losses = {
            "answer": outputs.loss,
            "grounding": grounding.loss(samples),
            "attention": attention_loss(outputs.attentions, rows),
        }
        loss = losses["answer"] + GROUNDING_WEIGHT * losses["grounding"] + ATTENTION_WEIGHT * losses["attention"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        for key, value in losses.items():
            history[key].append(value.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            elapsed = time.time() - started
            means = "  ".join(f"{key} {np.mean(values[-log_every:]):.3f}" for key, values in history.items())
            print(
                f"step {step + 1}/{steps}  {means}  {elapsed / (step + 1):.2f} s/step  {elapsed / 60:.1f} min",
                flush=True,
            )
        if validate_every and ((step + 1) % validate_every == 0 or step + 1 == steps):
            validation = validate(model, processor, per_task=10)
            shown = "  ".join(f"{task} {value:.0%}" for task, value in validation.items())
            print(f"validation at step {step + 1}: {shown}", flush=True)
            save(model, processor, out, {"steps_done": step + 1, "validation": validation})
    model.eval()
    save(
        model,
        processor,
        out,
        {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "init": str(init) if init else None,
            "pooled_weight": pooled_weight,
            "object_targets": object_targets,
            "clip_presence": clip_presence,
            "threads": threads,
            "parameters": parameters,
            "minutes": round((time.time() - started) / 60, 1),
            "final_losses": {key: float(np.mean(values[-50:])) for key, values in history.items()},
            "validation": validation,
            "torch": torch.__version__,
        },
    )
    print(f"saved to {out} after {(time.time() - started) / 60:.1f} min", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trio_model_tiny.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "weights")
    parser.add_argument("--steps", type=int, default=3600)
    parser.add_argument("--batch-size", type=int, default=8, help="scenes per step; each is asked several questions")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--validate-every", type=int, default=600, help="0: never")
    parser.add_argument("--init", type=Path, help="continue from this checkpoint (a further stage)")
    parser.add_argument(
        "--pooled-weight", type=float, default=1.0, help="weight of each object's pooled shape/direction loss"
    )
    parser.add_argument(
        "--object-targets",
        action="store_true",
        help="codes for colour-and-shape and object centres; look at <|vision_start|> for absent things, spread over centres to count",
    )
    parser.add_argument("--clip-presence", action="store_true", help='clips are also asked "is there X?"')
    args = parser.parse_args()
    train(
        args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        log_every=args.log_every,
        validate_every=args.validate_every,
        init=args.init,
        pooled_weight=args.pooled_weight,
        object_targets=args.object_targets,
        clip_presence=args.clip_presence,
    )
