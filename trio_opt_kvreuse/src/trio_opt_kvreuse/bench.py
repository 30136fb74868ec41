"""``trio bench kvreuse``: questions with the prefix cache against cold runs, side by side on one model."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click
import numpy as np

from trio_core.bench import bench_checkpoint, bench_options
from trio_core.frames import synthetic_frames

CONDITIONS = (
    "Is there a person in the picture?",
    "Is there a red square?",
    "Is the scene dark?",
    "Is anything moving?",
)


@click.command("kvreuse")
@bench_options(max_tokens=8, size=448)
def kvreuse(model_dir, depth, backend, runs, max_tokens, size, device, as_json):
    """Second question on the same image, and 4 conditions on one frame, with the prefix cache vs cold."""
    with bench_checkpoint(model_dir, depth, backend) as model_dir:
        report = measure(model_dir, runs=runs, max_tokens=max_tokens, size=size, device=device, backend=backend)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"model {report['model']} on {report['backend']} {report['device']}: {size}x{size} image, {report['visual_tokens']} visual tokens, "
        f"{max_tokens} new tokens at most\n"
        f"second question on the same image: cold {report['cold_ms']:.1f} ms | reused {report['reused_ms']:.1f} ms | "
        f"speedup {report['second_question_speedup']:.2f}x (median of {runs} paired rounds) | "
        f"identical output: {'yes' if report['identical'] else 'NO'}\n"
        f"{len(CONDITIONS)} conditions on a new frame, together: {report['fan_out_ms']:.1f} ms = "
        f"{report['fan_out_cost']:.2f}x one cold question (one by one: {report['one_by_one_cost']:.2f}x)\n"
        f"a still camera, {report['stream_frames']} frames of faint noise: cold {report['stream_cold_ms']:.1f} ms | "
        f"reused {report['stream_reused_ms']:.1f} ms | speedup {report['stream_speedup']:.2f}x "
        f"({report['stream_similar_hits']} similar-frame hits)\n"
        f"memory held by the cache: {report['cache_mb']:.1f} MB in {report['cache_entries']} entries"
    )


def measure(model_dir: Path, *, runs: int, max_tokens: int, size: int, device: str, backend: str = "auto") -> dict:
    """Two engines on one checkpoint (one with kvreuse); rounds alternate which goes first."""
    from trio_core import TrioCore

    settings = {"model": str(model_dir), "backend": backend, "device": device, "max_tokens": max_tokens}
    settings.update(dedup_threshold=0.0, max_side=size)
    cold = TrioCore(**settings).load()
    warm = TrioCore(**settings, optimizers=["kvreuse"]).load()
    frames = synthetic_frames(3 * runs + 2, size)  # new frames for every fan-out round
    image, question = frames[0], "What colour is the square?"

    def timed(engine, media, asked):
        start = time.perf_counter()
        result = engine.analyze_frame(media, asked)
        return (time.perf_counter() - start) * 1000, result

    warm.analyze_frame(image, CONDITIONS[0])  # fills the cache for the image
    cold.analyze_frame(image, question)  # warm-up
    identical = True
    cold_times, reused_times, speedups, fan_outs, costs, one_by_one = [], [], [], [], [], []
    for round_index in range(runs):
        order = [cold, warm] if round_index % 2 == 0 else [warm, cold]
        took = {}
        for engine in order:
            took[engine is warm], result = timed(engine, image, question)
            if engine is warm:
                identical &= result.metrics.cache_hit == "prefix"
                reused = result.token_ids
            else:
                expected = result.token_ids
        identical &= reused == expected
        cold_times.append(took[False])
        reused_times.append(took[True])
        speedups.append(took[False] / took[True])
        # Fan-out: every condition about a frame nobody has seen (asked together, then one by one about
        # another), against one cold question about a third.
        fresh, again, other = frames[2 + 3 * round_index : 5 + 3 * round_index]
        single, _ = timed(cold, other, CONDITIONS[0])
        start = time.perf_counter()
        fan_out_hits = [result.metrics.cache_hit for result in warm.analyze_frame_each(fresh, list(CONDITIONS))]
        fan_out = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        for condition in CONDITIONS:
            warm.analyze_frame(again, condition)
        one_by_one.append((time.perf_counter() - start) * 1000 / single)
        fan_outs.append(fan_out)
        costs.append(fan_out / single)
    # A still camera: each new frame is the last one with faint sensor noise (never the same pixels).
    rng = np.random.default_rng(0)
    base = frames[1]
    stream = [np.clip(base + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(runs + 1)]
    start = time.perf_counter()
    similar = sum(warm.analyze_frame(frame, CONDITIONS[1]).metrics.cache_hit == "similar" for frame in stream)
    stream_reused = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for frame in stream:
        cold.analyze_frame(frame, CONDITIONS[1])
    stream_cold = (time.perf_counter() - start) * 1000
    (store,) = warm.model.request_hooks
    visual_tokens = cold.analyze_frame(image, question).metrics.visual_tokens
    return {
        "model": str(model_dir),
        "backend": cold.model.backend,
        "device": cold.model.device,
        "visual_tokens": visual_tokens,
        "max_tokens": max_tokens,
        "runs": runs,
        "cold_ms": statistics.median(cold_times),
        "reused_ms": statistics.median(reused_times),
        "second_question_speedup": statistics.median(speedups),
        "identical": identical,
        "conditions": len(CONDITIONS),
        "fan_out_ms": statistics.median(fan_outs),
        "fan_out_cost": statistics.median(costs),
        "one_by_one_cost": statistics.median(one_by_one),
        "stream_frames": len(stream),
        "stream_cold_ms": stream_cold,
        "stream_reused_ms": stream_reused,
        "stream_speedup": stream_cold / stream_reused,
        "stream_similar_hits": similar,
        "cache_mb": store.entries.currsize / 2**20,
        "cache_entries": len(store.entries),
        "fan_out_hits": fan_out_hits,  # the last round's, one per condition
        "rounds": {
            "cold_ms": cold_times,
            "reused_ms": reused_times,
            "fan_out_cost": costs,
            "one_by_one_cost": one_by_one,
        },
    }
