"""``trio bench fastv``: FastV at its default and over a sweep, against no optimizer, side by side."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from .plugin import FastVOptimizer

DEFAULT = FastVOptimizer.Settings()
SWEEP = [(DEFAULT.layer, 0.25), (DEFAULT.layer, 0.75), (1, DEFAULT.drop), (0, DEFAULT.drop)]


@click.command("fastv")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A local Qwen2.5-VL or Qwen2-VL checkpoint. Default: a random-weight Qwen2.5-VL with real 3B layer "
    "widths (4 LLM layers, 4 vision blocks), built in a temporary directory.",
)
@click.option("--runs", type=click.IntRange(1, 100), default=5, show_default=True, help="Paired rounds.")
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=8, show_default=True)
@click.option("--frames", "frame_count", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--size", type=click.IntRange(28, 1344), default=448, show_default=True, help="Frame side in pixels.")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def fastv(model_dir, runs, max_tokens, frame_count, size, device, as_json):
    """Visual tokens, prefill and end-to-end time with FastV (default and a sweep) vs no optimizer."""
    from trio_backend_torch.bench import compare_optimizers, render_comparison

    with tempfile.TemporaryDirectory(prefix="trio-bench-") as scratch:
        if model_dir is None:
            from trio_backend_torch.tiny import build_checkpoint

            click.echo("Building a random-weight Qwen2.5-VL with real 3B layer widths...", err=True)
            model_dir = build_checkpoint("qwen2_5_vl", Path(scratch) / "model", size="bench")
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
            model_dir, configs, runs=runs, max_tokens=max_tokens, frame_count=frame_count, size=size, device=device
        )
    click.echo(json.dumps(report, indent=2) if as_json else render_comparison(report))
