"""``trio bench fastv``: FastV at its default and over a sweep, against no optimizer, side by side."""

from __future__ import annotations

import json

import click

from trio_core.bench import bench_checkpoint, bench_options, compare_optimizers, render_comparison

from .plugin import FastVOptimizer

DEFAULT = FastVOptimizer.Settings()
SWEEP = [(DEFAULT.layer, 0.25), (DEFAULT.layer, 0.75), (1, DEFAULT.drop), (0, DEFAULT.drop)]


@click.command("fastv")
@bench_options(max_tokens=8, size=448)
@click.option("--frames", "frame_count", type=click.IntRange(1, 64), default=1, show_default=True)
def fastv(model_dir, depth, backend, runs, max_tokens, frame_count, size, device, as_json):
    """Visual tokens, prefill and end-to-end time with FastV (default and a sweep) vs no optimizer."""
    with bench_checkpoint(model_dir, depth, backend) as model_dir:
        config = json.loads((model_dir / "config.json").read_text())
        layers = config.get("text_config", config)["num_hidden_layers"]
        configs = {}
        for layer, drop in [(DEFAULT.layer, DEFAULT.drop), *SWEEP]:
            if layer > layers - 2:  # FastV needs a layer after K: skip settings this model cannot take
                continue
            name = f"fastv K={layer} drop={drop:g}"
            name += " (default)" if (layer, drop) == (DEFAULT.layer, DEFAULT.drop) else ""
            configs[name] = {"optimizers": ["fastv"], "optimizer_settings": {"fastv": {"layer": layer, "drop": drop}}}
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
