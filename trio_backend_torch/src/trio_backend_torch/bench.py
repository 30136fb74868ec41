"""``trio bench overhead``: trio's torch path against raw transformers ``generate``, side by side."""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np


def bench_options(max_tokens: int, size: int):
    """The options every ``trio bench`` command shares: model, runs, new tokens, frame size, device, JSON."""

    def decorate(command):
        options = [
            click.option(
                "--model",
                "model_dir",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help="A local checkpoint. Default: a random-weight Qwen2.5-VL with real 3B layer widths "
                "(--depth vision blocks and LLM layers), built in a temporary directory.",
            ),
            click.option(
                "--depth",
                type=(click.IntRange(1, 32), click.IntRange(2, 36)),
                default=(4, 4),
                show_default=True,
                help="Vision blocks and LLM layers of the built model (the 3B has 32 and 36).",
            ),
            click.option("--runs", type=click.IntRange(1, 100), default=5, show_default=True, help="Timed rounds."),
            click.option("--max-tokens", type=click.IntRange(1, 4096), default=max_tokens, show_default=True),
            click.option(
                "--size", type=click.IntRange(28, 1344), default=size, show_default=True, help="Frame side in pixels."
            ),
            click.option("--device", default="auto", show_default=True),
            click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON."),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@contextlib.contextmanager
def bench_checkpoint(model_dir: Path | None, depth: tuple[int, int] = (4, 4)) -> Iterator[Path]:
    """``model_dir``, or (when None) a random-weight Qwen2.5-VL with real 3B layer widths and ``depth``
    (vision blocks, LLM layers), built for the run."""
    if model_dir is not None:
        yield model_dir
        return
    from .tiny import build_checkpoint

    with tempfile.TemporaryDirectory(prefix="trio-bench-") as scratch:
        click.echo(
            f"Building a random-weight Qwen2.5-VL with real 3B layer widths, {depth[0]} vision blocks and "
            f"{depth[1]} LLM layers...",
            err=True,
        )
        yield build_checkpoint("qwen2_5_vl", Path(scratch) / "model", size="bench", depth=tuple(depth))


@click.command("overhead")
@bench_options(max_tokens=32, size=336)
@click.option(
    "--frames",
    "frame_count",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Frames of the synthetic video (1 = an image).",
)
def overhead(model_dir, depth, runs, max_tokens, frame_count, size, device, as_json):
    """End-to-end latency of trio vs raw transformers on the same model and inputs (median ratio)."""
    with bench_checkpoint(model_dir, depth) as model_dir:
        report = measure_overhead(
            model_dir, runs=runs, max_tokens=max_tokens, frame_count=frame_count, size=size, device=device
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"model {report['model']} on {report['device']}: {report['frames']} frame(s) of {size}px, "
        f"{report['prompt_tokens']} prompt tokens, {report['completion_tokens']} new tokens\n"
        f"trio median {report['trio_ms']:.1f} ms | raw transformers median {report['raw_ms']:.1f} ms\n"
        f"ratio trio/raw (median of {runs} paired runs): {report['ratio']:.3f}\n"
        f"identical output: {'yes' if report['identical'] else 'NO'}"
    )


def measure_overhead(model_dir: Path, *, runs: int, max_tokens: int, frame_count: int, size: int, device: str) -> dict:
    """Warm up both paths, then time them alternately (order swapped each round) on one loaded model."""
    import torch

    from trio_core import TrioCore

    question = "Describe what happens in this video."
    fps = 2.0
    frames = synthetic_frames(frame_count, size)
    engine = TrioCore(
        model=str(model_dir),
        backend="torch",
        device=device,
        max_tokens=max_tokens,
        dedup_threshold=0.0,
        fps=fps,
        max_frames=max(frame_count, 1),
        min_frames=1,
        max_side=size,
    ).load()
    loaded = engine.model
    media = list(frames) if frame_count > 1 else frames[0]

    def trio_run():
        return engine.analyze_video(media, question).token_ids

    def raw_run():
        inputs = raw_inputs(loaded.processor, frames, question, fps).to(loaded.device, dtype=loaded.model.dtype)
        with torch.inference_mode():
            output = loaded.model.generate(
                **inputs, max_new_tokens=max_tokens, do_sample=False, eos_token_id=loaded.stop_token_ids
            )
        return output[0, inputs["input_ids"].shape[1] :].tolist()

    trio_ids, raw_ids = trio_run(), raw_run()  # warm-up
    trio_times, raw_times, ratios = [], [], []
    identical = trio_ids == raw_ids
    for round_index in range(runs):
        order = [("trio", trio_run), ("raw", raw_run)]
        if round_index % 2:
            order.reverse()
        took = {}
        for name, run in order:
            start = time.perf_counter()
            ids = run()
            took[name] = (time.perf_counter() - start) * 1000
            identical &= ids == (trio_ids if name == "trio" else raw_ids)
        trio_times.append(took["trio"])
        raw_times.append(took["raw"])
        ratios.append(took["trio"] / took["raw"])
    identical &= trio_ids == raw_ids
    prompt = raw_inputs(loaded.processor, frames, question, fps)
    return {
        "model": str(model_dir),
        "device": loaded.device,
        "dtype": loaded.dtype,
        "frames": frame_count,
        "prompt_tokens": int(prompt["input_ids"].shape[1]),
        "completion_tokens": len(trio_ids),
        "runs": runs,
        "trio_ms": statistics.median(trio_times),
        "raw_ms": statistics.median(raw_times),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "identical": identical,
    }


def raw_inputs(processor, frames: list[np.ndarray], question: str, fps: float):
    """Processor inputs built the plain transformers way, without any trio code."""
    from transformers.video_utils import VideoMetadata

    if len(frames) == 1:
        content = [{"type": "image", "image": frames[0]}, {"type": "text", "text": question}]
        extra = {}
    else:
        content = [{"type": "video", "video": np.stack(frames)}, {"type": "text", "text": question}]
        metadata = VideoMetadata(
            total_num_frames=len(frames),
            fps=fps,
            frames_indices=list(range(len(frames))),
            duration=len(frames) / fps,
            width=frames[0].shape[1],
            height=frames[0].shape[0],
        )
        extra = {"video_metadata": [metadata], "do_sample_frames": False}
    return processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs=extra,
    )


def synthetic_frames(count: int, size: int) -> list[np.ndarray]:
    """A square moving across a gradient: deterministic frames that differ from each other."""
    y, x = np.mgrid[0:size, 0:size]
    frames = []
    for index in range(count):
        frame = np.stack([(x * 255 // size), (y * 255 // size), np.full_like(x, 96)], axis=-1).astype(np.uint8)
        side = size // 5
        left = (index * size // max(count, 1)) % (size - side)
        frame[size // 3 : size // 3 + side, left : left + side] = (230, 40, 40)
        frames.append(frame)
    return frames


def compare_optimizers(
    model_dir: Path,
    configs: dict[str, dict],
    *,
    runs: int,
    max_tokens: int,
    frame_count: int,
    size: int,
    device: str,
) -> dict:
    """Each configuration against no optimizer, on the same checkpoint and frames, in paired rounds.

    ``configs`` maps a name to ``{"optimizers": [...], "optimizer_settings": {...}}``. Every
    round times the baseline and each configuration once (the order rotates round to round);
    the ratios are medians of the per-round ratios (below 1: faster than the baseline).
    """
    from trio_core import TrioCore

    question = "Describe what happens in this video."
    frames = synthetic_frames(frame_count, size)
    media = list(frames) if frame_count > 1 else frames[0]
    common = {
        "model": str(model_dir),
        "backend": "torch",
        "device": device,
        "max_tokens": max_tokens,
        "dedup_threshold": 0.0,
        "fps": 2.0,
        "max_frames": max(frame_count, 1),
        "min_frames": 1,
        "max_side": size,
    }
    engines = {"baseline": TrioCore(**common).load()}
    for name, config in configs.items():
        engines[name] = TrioCore(**common, **config).load()
    results = {name: engine.analyze_video(media, question) for name, engine in engines.items()}  # warm-up
    latency = {name: [] for name in engines}
    prefill = {name: [] for name in engines}
    names = list(engines)
    for round_index in range(runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            result = engines[name].analyze_video(media, question)
            latency[name].append(result.metrics.latency_ms)
            prefill[name].append(result.metrics.prefill_ms)
    baseline = results["baseline"]
    report = {
        "model": str(model_dir),
        "device": engines["baseline"].model.device,
        "frames": frame_count,
        "size": size,
        "runs": runs,
        "max_tokens": max_tokens,
        "configs": [],
    }
    for name in names:
        metrics = results[name].metrics
        report["configs"].append(
            {
                "name": name,
                "visual_tokens": metrics.visual_tokens,
                "visual_tokens_after": metrics.visual_tokens_after,
                "latency_ms": statistics.median(latency[name]),
                "prefill_ms": statistics.median(prefill[name]),
                "latency_ratio": statistics.median(
                    [a / b for a, b in zip(latency[name], latency["baseline"], strict=True)]
                ),
                "prefill_ratio": statistics.median(
                    [a / b for a, b in zip(prefill[name], prefill["baseline"], strict=True)]
                ),
                "same_answer": results[name].token_ids == baseline.token_ids,
            }
        )
    return report


def render_comparison(report: dict) -> str:
    """The table ``trio bench fastv`` / ``tome`` print."""
    width = 2 + max(len(config["name"]) for config in report["configs"])
    lines = [
        f"model {report['model']} on {report['device']}: {report['frames']} frame(s) of {report['size']}px, "
        f"{report['max_tokens']} new tokens at most, {report['runs']} paired rounds",
        f"{'config':<{width}}{'visual tokens':>15}{'prefill ms':>12}{'prefill x':>11}{'total ms':>11}{'speedup':>9}"
        f"{'same answer':>13}",
    ]
    for config in report["configs"]:
        lines.append(
            f"{config['name']:<{width}}{config['visual_tokens_after']:>6} of {config['visual_tokens']:<5}"
            f"{config['prefill_ms']:>12.1f}{config['prefill_ratio']:>11.2f}{config['latency_ms']:>11.1f}"
            f"{1 / config['latency_ratio']:>8.2f}x{('yes' if config['same_answer'] else 'no'):>13}"
        )
    lines.append("(prefill x: prefill time / the baseline's; speedup: the baseline's total time / this one's)")
    return "\n".join(lines)
