"""``trio bench overhead``: trio's torch path against raw transformers ``generate``, side by side."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click
import numpy as np

from trio_core.bench import QUESTION, bench_checkpoint, bench_options, frames_option, synthetic_frames


@click.command("overhead")
@bench_options(max_tokens=32, size=336, backend=False)
@frames_option(default=4)
def overhead(model_dir, depth, runs, max_tokens, frame_count, size, device, as_json):
    """End-to-end latency of trio vs raw transformers on the same model and inputs (median ratio)."""
    with bench_checkpoint(model_dir, depth, backend="torch") as model_dir:
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
        return engine.analyze_video(media, QUESTION).token_ids

    def raw_run():
        inputs = raw_inputs(loaded.processor, frames, QUESTION, fps).to(loaded.device, dtype=loaded.model.dtype)
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
    prompt = raw_inputs(loaded.processor, frames, QUESTION, fps)
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
