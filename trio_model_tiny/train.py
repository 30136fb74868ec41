"""Train trio-tiny: a genuine Qwen2.5-VL, small enough to train on 2 CPU cores, on synthetic scenes.

    python trio_model_tiny/train.py --out trio_model_tiny/src/trio_model_tiny/weights

The run is seeded and reproducible on one machine (same seed, same steps, same torch build ->
the same weights; thread scheduling can change float sums across machines). It writes a
standard Hugging Face checkpoint (config, safetensors, tokenizer, processor, chat template),
so transformers and mlx-vlm load it as they load Qwen/Qwen2.5-VL-3B-Instruct. CI does not
retrain; the weights ship inside the trio-model-tiny package.

This is a development tool, not part of the plugin: it uses trio-backend-torch's test
helpers to build the tokenizer and lay out the processor files.
"""

from __future__ import annotations

import argparse
import json
import math
import time
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

from trio_backend_torch.tiny import build_tokenizer, save_processor
from trio_model_tiny.questions import TASKS, TRAIN_SEED_BASE, corpus, make_sample
from trio_model_tiny.scenes import COLOURS, SHAPES

# Default resolution: a 448x448 image is 32x32 patches of 14 px, merged 2x2 into 16x16 = 256
# visual tokens; a video frame is at most 224x224, 64 tokens per pair of frames.
IMAGE_PIXELS = 448 * 448
VIDEO_PIXELS = 224 * 224

# Training images come at several sizes (448 most often): cheaper steps, and a model that
# answers at any size the processor produces. Inference defaults to 448.
IMAGE_SIZES = (224, 336, 448)
IMAGE_SIZE_WEIGHTS = (0.3, 0.3, 0.4)

# How often each task is drawn: counting, positions and clips are harder than presence.
TASK_WEIGHTS = {
    "presence": 1.0,
    "colour": 1.0,
    "count": 2.0,
    "position": 1.5,
    "motion": 1.5,
    "appearance": 1.5,
    "description": 1.0,
}


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


class Encoder:
    """Turns a sample into model inputs exactly as trio builds them at inference, plus labels."""

    def __init__(self, processor):
        self.processor = processor
        tokenizer = processor.tokenizer
        self.im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self.header = len(tokenizer("<|im_start|>assistant\n")["input_ids"])
        self.pad = tokenizer.pad_token_id

    def __call__(self, sample) -> dict:
        media = {"type": "video"} if sample.kind == "video" else {"type": "image"}
        chat = [{"role": "user", "content": [media, {"type": "text", "text": sample.question}]}]
        prompt = self.processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        text = f"{prompt}{sample.answer}<|im_end|>\n"
        if sample.kind == "video":
            count = len(sample.media)
            metadata = {
                "total_num_frames": count,
                "fps": sample.fps,
                "frames_indices": list(range(count)),
                "duration": count / sample.fps,
            }
            inputs = self.processor(
                text=[text],
                videos=[list(sample.media)],
                video_metadata=[metadata],
                do_sample_frames=False,
                return_tensors="pt",
            )
        else:
            inputs = self.processor(text=[text], images=[sample.media], return_tensors="pt")
        ids = inputs["input_ids"][0]
        labels = torch.full_like(ids, -100)
        answer_from = int((ids == self.im_start).nonzero()[-1]) + self.header
        labels[answer_from:] = ids[answer_from:]
        labels[-1] = -100  # the newline after <|im_end|> is never generated
        return {**inputs, "labels": labels[None]}


# Dense grounding: during training only, two linear heads read every visual token the
# vision encoder hands to the LLM and predict the colour and the shape of the object under
# that token's 28x28-pixel cell (or "background"). The answer loss alone reaches the vision
# encoder only through attention, which starts out uniform, so the encoder learns slowly;
# this extra signal teaches it what is where from the first step. The heads are not part of
# the saved model: trio-tiny is a plain Qwen2.5-VL.
CELL = 28  # pixels per visual token: 14-pixel patches merged 2x2
# The share of an object's bounding radius that is surely inside the shape.
INSIDE = {"circle": 0.85, "square": 0.65, "triangle": 0.4, "star": 0.3}
GROUNDING_WEIGHT = 0.5


def cell_labels(objects, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour and shape class of every visual-token cell of a ``side`` x ``side`` frame, raster order.

    Background is the last class; cells on an object's edge are -100 (not scored).
    """
    cells = side // CELL
    centres = (np.arange(cells) + 0.5) * CELL
    cy, cx = np.meshgrid(centres, centres, indexing="ij")  # (cells, cells)
    colour = np.full((cells, cells), len(COLOURS), dtype=np.int64)
    shape = np.full((cells, cells), len(SHAPES), dtype=np.int64)
    for obj in objects:
        distance = np.hypot(cx - obj.x, cy - obj.y)
        edge = distance < obj.radius
        inside = distance < obj.radius * INSIDE[obj.shape]
        colour[edge] = shape[edge] = -100
        colour[inside] = list(COLOURS).index(obj.colour)
        shape[inside] = SHAPES.index(obj.shape)
    return torch.from_numpy(colour.reshape(-1)), torch.from_numpy(shape.reshape(-1))


def grounding_targets(sample) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-visual-token targets for one sample, in the order the vision encoder emits its tokens."""
    if sample.kind == "image":
        return cell_labels(sample.meta["objects"], sample.media.shape[0])
    colours, shapes = [], []
    per_frame = sample.meta["objects_per_frame"]
    for first in range(0, len(per_frame) - 1, 2):  # two frames make one temporal patch
        a_colour, a_shape = cell_labels(per_frame[first], sample.media[first].shape[0])
        b_colour, b_shape = cell_labels(per_frame[first + 1], sample.media[first].shape[0])
        colours.append(torch.where(a_colour == b_colour, a_colour, -100))
        shapes.append(torch.where(a_shape == b_shape, a_shape, -100))
    return torch.cat(colours), torch.cat(shapes)


class Grounding(torch.nn.Module):
    """The training-only heads, fed by a forward hook on the vision encoder."""

    def __init__(self, model, width: int):
        super().__init__()
        self.colour = torch.nn.Linear(width, len(COLOURS) + 1)
        self.shape = torch.nn.Linear(width, len(SHAPES) + 1)
        self.captured: list[torch.Tensor] = []
        model.model.visual.register_forward_hook(
            lambda module, args, output: self.captured.append(output.pooler_output)
        )

    def loss(self, samples) -> torch.Tensor:
        # The model encodes all images of a batch first, then all videos.
        order = [s for s in samples if s.kind == "image"] + [s for s in samples if s.kind == "video"]
        tokens = torch.cat(self.captured)  # (visual tokens of the batch, width)
        self.captured.clear()
        targets = [grounding_targets(sample) for sample in order]
        colour = torch.cat([t[0] for t in targets])
        shape = torch.cat([t[1] for t in targets])
        if colour.shape[0] != tokens.shape[0]:
            raise RuntimeError(f"grounding targets ({colour.shape[0]}) do not match visual tokens ({tokens.shape[0]})")
        return torch.nn.functional.cross_entropy(self.colour(tokens), colour) + torch.nn.functional.cross_entropy(
            self.shape(tokens), shape
        )


def collate(items: list[dict], pad: int) -> dict:
    """One batch: text padded on the right, visual patches concatenated in sample order."""
    length = max(item["input_ids"].shape[1] for item in items)
    batch = {
        "input_ids": torch.full((len(items), length), pad, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), length), dtype=torch.long),
        "labels": torch.full((len(items), length), -100, dtype=torch.long),
    }
    for row, item in enumerate(items):
        n = item["input_ids"].shape[1]
        batch["input_ids"][row, :n] = item["input_ids"][0]
        batch["attention_mask"][row, :n] = 1
        batch["labels"][row, :n] = item["labels"][0]
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        parts = [item[key] for item in items if key in item]
        if parts:
            batch[key] = torch.cat(parts)
    seconds = [s for item in items for s in item.get("second_per_grid_ts", [])]
    if seconds:
        batch["second_per_grid_ts"] = torch.tensor(seconds)
    return batch


def draw_tasks(rng, count: int) -> list[str]:
    weights = np.array([TASK_WEIGHTS[task] for task in TASKS])
    return list(rng.choice(TASKS, size=count, p=weights / weights.sum()))


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def save(model, processor, out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_processor(processor, out)
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")


def train(out: Path, *, steps: int, batch_size: int, lr: float, seed: int, threads: int, log_every: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    processor = build_processor()
    config = build_config(processor.tokenizer)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    parameters = sum(p.numel() for p in model.parameters())
    print(f"trio-tiny: {parameters / 1e6:.2f} M parameters, {steps} steps of {batch_size}", flush=True)
    encode = Encoder(processor)
    grounding = Grounding(model, config.text_config.hidden_size)
    trained = [*model.parameters(), *grounding.parameters()]
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    model.train()
    started = time.time()
    losses, grounding_losses = [], []
    for step in range(steps):
        rng = np.random.default_rng([TRAIN_SEED_BASE, seed, step])
        size = int(rng.choice(IMAGE_SIZES, p=IMAGE_SIZE_WEIGHTS))  # one size a batch: similar lengths
        samples = [make_sample(task, rng, image_size=size) for task in draw_tasks(rng, batch_size)]
        batch = collate([encode(sample) for sample in samples], encode.pad)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup=min(200, steps // 10))
        answer_loss = model(**batch).loss
        grounding_loss = grounding.loss(samples)
        loss = answer_loss + GROUNDING_WEIGHT * grounding_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        losses.append(answer_loss.item())
        grounding_losses.append(grounding_loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            elapsed = time.time() - started
            print(
                f"step {step + 1}/{steps}  loss {np.mean(losses[-log_every:]):.4f}  "
                f"grounding {np.mean(grounding_losses[-log_every:]):.4f}  "
                f"{elapsed / (step + 1):.2f} s/step  {elapsed / 60:.1f} min",
                flush=True,
            )
        if (step + 1) % 250 == 0:
            save(model, processor, out, {"steps_done": step + 1})
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
            "threads": threads,
            "parameters": parameters,
            "minutes": round((time.time() - started) / 60, 1),
            "final_loss": float(np.mean(losses[-50:])),
            "torch": torch.__version__,
        },
    )
    print(f"saved to {out} after {(time.time() - started) / 60:.1f} min", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "src/trio_model_tiny/weights")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=25)
    args = parser.parse_args()
    train(
        args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        log_every=args.log_every,
    )


if __name__ == "__main__":
    main()
