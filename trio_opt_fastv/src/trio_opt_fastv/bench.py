"""``trio bench fastv``: FastV at its default and over a sweep, against no optimizer, side by side."""

from __future__ import annotations

import json

from trio_core.bench import comparison_command

from .plugin import FastVOptimizer

DEFAULT = FastVOptimizer.Settings()
SWEEP = [(DEFAULT.layer, 0.25), (DEFAULT.layer, 0.75), (1, DEFAULT.drop), (0, DEFAULT.drop)]


def configurations(model_dir) -> dict[str, dict]:
    config = json.loads((model_dir / "config.json").read_text())
    layers = config.get("text_config", config)["num_hidden_layers"]
    configs = {}
    for layer, drop in [(DEFAULT.layer, DEFAULT.drop), *SWEEP]:
        if layer > layers - 2:  # FastV needs a layer after K: skip settings this model cannot take
            continue
        name = f"fastv K={layer} drop={drop:g}"
        name += " (default)" if (layer, drop) == (DEFAULT.layer, DEFAULT.drop) else ""
        configs[name] = {"optimizers": ["fastv"], "optimizer_settings": {"fastv": {"layer": layer, "drop": drop}}}
    return configs


fastv = comparison_command(
    "fastv", configurations, help="Visual tokens, prefill and end-to-end time with FastV (default and a sweep) vs none."
)
