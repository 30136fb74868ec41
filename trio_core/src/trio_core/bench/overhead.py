"""``trio bench overhead``: trio's path against the backend's raw library, side by side, on any backend.

The backend's loaded model answers the same question about the same frames through its library
alone (:meth:`trio_core.backends.LoadedModel.raw_generate`: transformers' ``generate`` on torch,
``mlx_vlm.stream_generate`` on mlx); both paths run on one loaded model, in rounds that alternate
which goes first.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import click

from ..frames import synthetic_frames
from .harness import (
    QUESTION,
    alternating_rounds,
    bench_checkpoint,
    bench_options,
    frames_option,
    paired_ratio,
)

# The frames' rate. At 4 per second a Qwen2.5-VL temporal patch (2 frames) lasts half a second, which
# at its 2 tokens a second is one position: where libraries count video time by index (mlx-vlm) rather
# than by seconds (transformers, trio), both lay the video out the same way, so outputs can be compared.
FPS = 4.0


@click.command("overhead")
@bench_options(max_tokens=32, size=336)
@frames_option(default=4)
def overhead(model_dir, depth, backend, runs, max_tokens, frame_count, size, device, as_json):
    """End-to-end latency of trio vs the backend's raw library on the same model and inputs (median ratio)."""
    with bench_checkpoint(model_dir, depth, backend) as model_dir:
        report = measure_overhead(
            model_dir,
            backend=backend,
            runs=runs,
            max_tokens=max_tokens,
            frame_count=frame_count,
            size=size,
            device=device,
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"model {report['model']} on {report['backend']} {report['device']}: {report['frames']} frame(s) of "
        f"{size}px, {report['prompt_tokens']} prompt tokens, {report['completion_tokens']} new tokens\n"
        f"trio median {report['trio_ms']:.1f} ms | raw {report['library']} median {report['raw_ms']:.1f} ms\n"
        f"ratio trio/raw (median of {runs} paired runs): {report['ratio']:.3f}\n"
        f"identical output: {'yes' if report['identical'] else 'NO'}"
    )


def measure_overhead(
    model_dir: Path | str, *, backend: str, runs: int, max_tokens: int, frame_count: int, size: int, device: str
) -> dict:
    """Warm up both paths, then time them alternately (order swapped each round) on one loaded model."""
    from ..sdk import TrioCore

    frames = synthetic_frames(frame_count, size)
    engine = TrioCore(
        model=str(model_dir),
        backend=backend,
        device=device,
        max_tokens=max_tokens,
        dedup_threshold=0.0,
        fps=FPS,
        max_frames=max(frame_count, 1),
        min_frames=1,
        max_side=size,
    ).load()
    loaded = engine.model
    media = list(frames) if frame_count > 1 else frames[0]
    prompt_tokens = 0

    def trio_run():
        nonlocal prompt_tokens
        result = engine.analyze_video(media, QUESTION)
        prompt_tokens = result.metrics.prompt_tokens
        return result.token_ids

    def raw_run():
        return loaded.raw_generate(frames, QUESTION, fps=FPS, max_tokens=max_tokens)

    try:
        trio_ids, raw_ids = trio_run(), raw_run()  # warm-up
        times, outputs = alternating_rounds(runs, {"trio": lambda _: trio_run(), "raw": lambda _: raw_run()})
        identical = trio_ids == raw_ids and all(out == {"trio": trio_ids, "raw": raw_ids} for out in outputs)
        trio_times, raw_times = times["trio"], times["raw"]
        return {
            "model": str(model_dir),
            "backend": loaded.backend,
            "library": loaded.raw_library or loaded.backend,
            "device": loaded.device,
            "dtype": loaded.dtype,
            "frames": frame_count,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(trio_ids),
            "runs": runs,
            "trio_ms": statistics.median(trio_times),
            "raw_ms": statistics.median(raw_times),
            "ratio": paired_ratio(trio_times, raw_times),
            "ratios": [trio / raw for trio, raw in zip(trio_times, raw_times, strict=True)],
            "identical": identical,
        }
    finally:
        engine.close()
