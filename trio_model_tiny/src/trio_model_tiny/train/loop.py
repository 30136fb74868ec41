"""The training loop: batches of scenes, the optimizer, validation, and the saved checkpoint."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

from trio_backend_torch.testing import save_processor
from trio_core.chat import Message, TextPart
from trio_model_tiny.questions import TASKS, TRAIN_SEED_BASE, VALIDATION_SEED, Sample, is_correct, make_sample
from trio_model_tiny.train.conversations import draw_turns, media_part
from trio_model_tiny.train.inputs import Encoder, collate, forward
from trio_model_tiny.train.losses import ATTENTION_WEIGHT, GROUNDING_WEIGHT, Grounding, attention_loss
from trio_model_tiny.train.model import FAMILY, build_config, build_processor
from trio_model_tiny.train.window_attention import batched_window_attention

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
