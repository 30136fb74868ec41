"""What every ``trio bench`` command shares, on any backend: options, the model, inputs, paired rounds.

A benchmark here prints ratios measured side by side in one run (with vs without an
optimizer, HTTP vs the SDK) on the same model and inputs; the rounds alternate which side goes
first, and the figures are medians of the per-round ratios.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..frames import jpeg_bytes, synthetic_frames

# The question every optimizer comparison asks about its synthetic media.
QUESTION = "Describe what happens in this video."


def bench_options(max_tokens: int, size: int, backend: bool = True):
    """The options every ``trio bench`` command shares: model, depth, backend, runs, new tokens, frame size,
    device, JSON. ``backend=False`` leaves out ``--backend`` (a benchmark of one backend's own path)."""

    def decorate(command):
        options = [
            click.option(
                "--model",
                "model_dir",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help="A local checkpoint. Default: a random-weight Qwen2.5-VL with real 3B layer widths "
                "(--depth vision blocks and LLM layers), written by the backend in a temporary directory.",
            ),
            click.option(
                "--depth",
                type=(click.IntRange(1, 32), click.IntRange(2, 36)),
                default=(4, 4),
                show_default=True,
                help="Vision blocks and LLM layers of the built model (the 3B has 32 and 36).",
            ),
            *(
                [click.option("--backend", default="auto", show_default=True, help="Backend to run the model on.")]
                if backend
                else []
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


def frames_option(default: int):
    """``--frames``: how many frames of :func:`synthetic_frames` a benchmark asks about (1 = an image)."""
    return click.option(
        "--frames",
        "frame_count",
        type=click.IntRange(1, 64),
        default=default,
        show_default=True,
        help="Frames of the synthetic video (1 = an image).",
    )


@contextlib.contextmanager
def bench_checkpoint(model_dir: Path | None, depth: tuple[int, int] = (4, 4), backend: str = "auto") -> Iterator[Path]:
    """``model_dir``, or (when None) a random-weight Qwen2.5-VL with real 3B layer widths and ``depth``
    (vision blocks, LLM layers), written for the run by ``backend`` (``auto``: the best available one)."""
    from ..testing.checkpoints import checkpoint_writer

    if model_dir is not None:
        yield model_dir
        return
    writer = checkpoint_writer(backend)
    with tempfile.TemporaryDirectory(prefix="trio-bench-") as scratch:
        click.echo(
            f"Building a random-weight Qwen2.5-VL with real 3B layer widths, {depth[0]} vision blocks and "
            f"{depth[1]} LLM layers ({writer.name} backend)...",
            err=True,
        )
        yield writer.write_random_checkpoint("qwen2_5_vl", Path(scratch) / "model", size="bench", depth=tuple(depth))


def snapshot(size: int) -> bytes:
    """A synthetic camera snapshot (a red square on a gradient, as :func:`synthetic_frames` draws), as JPEG bytes."""
    return jpeg_bytes(synthetic_frames(1, size)[0], quality=90)


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else 0.0


def alternating_rounds(runs: int, paths: dict[str, Callable[[int], Any]]) -> tuple[dict[str, list[float]], list[dict]]:
    """Each path of ``paths`` once a round (called with the round's index), ``runs`` rounds, their order reversed
    every other round so that neither always goes first: each path's times (ms), and each round's outputs."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    outputs = []
    for round_index in range(runs):
        order = list(paths.items())
        if round_index % 2:
            order.reverse()
        outputs.append({})
        for name, run in order:
            start = time.perf_counter()
            outputs[-1][name] = run(round_index)
            times[name].append((time.perf_counter() - start) * 1000)
    return times, outputs


def paired_ratio(values: list[float], baseline: list[float]) -> float:
    """The median of the per-round ratios ``values[i] / baseline[i]``."""
    return statistics.median([a / b for a, b in zip(values, baseline, strict=True)])


def compare_optimizers(
    model_dir: Path,
    configs: dict[str, dict],
    *,
    runs: int,
    max_tokens: int,
    frame_count: int,
    size: int,
    device: str,
    backend: str = "auto",
) -> dict:
    """Each configuration against no optimizer, on the same checkpoint and frames, in paired rounds.

    ``configs`` maps a name to ``{"optimizers": [...], "optimizer_settings": {...}}``. Every
    round times the baseline and each configuration once (the order rotates round to round);
    the ratios are medians of the per-round ratios (below 1: faster than the baseline). The
    baseline itself is not compared with itself: it has no ratios.
    """
    from ..sdk import TrioCore

    frames = synthetic_frames(frame_count, size)
    media = list(frames) if frame_count > 1 else frames[0]
    common = {
        "model": str(model_dir),
        "backend": backend,
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
    results = {name: engine.analyze_video(media, QUESTION) for name, engine in engines.items()}  # warm-up
    latency: dict[str, list[float]] = {name: [] for name in engines}
    prefill: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for round_index in range(runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            result = engines[name].analyze_video(media, QUESTION)
            latency[name].append(result.metrics.latency_ms)
            prefill[name].append(result.metrics.prefill_ms)
    baseline = results["baseline"]
    report = {
        "model": str(model_dir),
        "backend": engines["baseline"].model.backend,
        "device": engines["baseline"].model.device,
        "frames": frame_count,
        "size": size,
        "runs": runs,
        "max_tokens": max_tokens,
        "baseline": {
            "visual_tokens": baseline.metrics.visual_tokens,
            "latency_ms": statistics.median(latency["baseline"]),
            "prefill_ms": statistics.median(prefill["baseline"]),
            "rounds_latency_ms": latency["baseline"],
            "rounds_prefill_ms": prefill["baseline"],
        },
        "configs": [],
    }
    for name in names[1:]:
        metrics = results[name].metrics
        report["configs"].append(
            {
                "name": name,
                "visual_tokens": metrics.visual_tokens,
                "visual_tokens_after": metrics.visual_tokens_after,
                "latency_ms": statistics.median(latency[name]),
                "prefill_ms": statistics.median(prefill[name]),
                "latency_ratio": paired_ratio(latency[name], latency["baseline"]),
                "prefill_ratio": paired_ratio(prefill[name], prefill["baseline"]),
                "same_answer": results[name].token_ids == baseline.token_ids,
                "rounds_latency_ms": latency[name],
                "rounds_prefill_ms": prefill[name],
            }
        )
    for engine in engines.values():
        engine.close()
    return report


def comparison_command(
    name: str, configurations: Callable[[Path], dict[str, dict]], *, help: str, max_tokens: int = 8, size: int = 448
) -> click.Command:
    """A ``trio bench NAME`` command: each of ``configurations(model_dir)`` (a name -> the engine settings
    that differ) against no optimizer, side by side in paired rounds, printed as a table or JSON."""

    @click.command(name, help=help)
    @bench_options(max_tokens=max_tokens, size=size)
    @frames_option(default=1)
    def command(model_dir, depth, backend, runs, max_tokens, frame_count, size, device, as_json):
        with bench_checkpoint(model_dir, depth, backend) as model_dir:
            report = compare_optimizers(
                model_dir,
                configurations(model_dir),
                runs=runs,
                max_tokens=max_tokens,
                frame_count=frame_count,
                size=size,
                device=device,
                backend=backend,
            )
        click.echo(json.dumps(report, indent=2) if as_json else render_comparison(report))

    return command


def render_comparison(report: dict) -> str:
    """The table ``trio bench tome`` / ``fastv`` print: the baseline, then each configuration against it."""
    names = ["baseline", *(config["name"] for config in report["configs"])]
    width = 2 + max(len(name) for name in names)
    baseline = report["baseline"]
    lines = [
        f"model {report['model']} on {report['backend']} {report['device']}: {report['frames']} frame(s) of "
        f"{report['size']}px, {report['max_tokens']} new tokens at most, {report['runs']} paired rounds",
        f"{'config':<{width}}{'visual tokens':>15}{'prefill ms':>12}{'prefill x':>11}{'total ms':>11}{'speedup':>9}"
        f"{'same answer':>13}",
        f"{'baseline':<{width}}{baseline['visual_tokens']:>6} of {baseline['visual_tokens']:<5}"
        f"{baseline['prefill_ms']:>12.1f}{'':>11}{baseline['latency_ms']:>11.1f}{'':>9}{'':>13}",
    ]
    for config in report["configs"]:
        lines.append(
            f"{config['name']:<{width}}{config['visual_tokens_after']:>6} of {config['visual_tokens']:<5}"
            f"{config['prefill_ms']:>12.1f}{config['prefill_ratio']:>11.2f}{config['latency_ms']:>11.1f}"
            f"{1 / config['latency_ratio']:>8.2f}x{('yes' if config['same_answer'] else 'no'):>13}"
        )
    lines.append(
        "(prefill x: median of the per-round prefill / the baseline's; speedup: the inverse of the median per-round "
        "total / the baseline's)"
    )
    return "\n".join(lines)
