"""``trio bench tome``: ToMe at its default and over a sweep, against no optimizer, side by side."""

from __future__ import annotations

import json

import click

from trio_core.bench import bench_checkpoint, bench_options, compare_optimizers, render_comparison

from .plugin import TokenMergingOptimizer

DEFAULT = TokenMergingOptimizer.Settings()
SWEEP = (0.75, 0.35, 0.25)  # shares of the visual tokens kept


@click.command("tome")
@bench_options(max_tokens=8, size=448)
@click.option("--frames", "frame_count", type=click.IntRange(1, 64), default=1, show_default=True)
def tome(model_dir, depth, backend, runs, max_tokens, frame_count, size, device, as_json):
    """Visual tokens, prefill and end-to-end time with ToMe (default and a sweep) vs no optimizer."""
    with bench_checkpoint(model_dir, depth, backend) as model_dir:
        configs = {f"tome keep={DEFAULT.keep:g} (default)": {"optimizers": ["tome"]}}
        for keep in SWEEP:
            configs[f"tome keep={keep:g}"] = {"optimizers": ["tome"], "optimizer_settings": {"tome": {"keep": keep}}}
        report = compare_optimizers(
            model_dir,
            configs,
            runs=runs,
            max_tokens=max_tokens,
            frame_count=frame_count,
            size=size,
            device=device,
            backend=backend,
        )
    click.echo(json.dumps(report, indent=2) if as_json else render_comparison(report))
