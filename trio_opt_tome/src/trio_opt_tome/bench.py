"""``trio bench tome``: ToMe at its default and over a sweep, against no optimizer, side by side."""

from __future__ import annotations

from trio_core.bench import comparison_command

from .plugin import TokenMergingOptimizer

DEFAULT = TokenMergingOptimizer.Settings()
SWEEP = (0.75, 0.35, 0.25)  # shares of the visual tokens kept


def configurations(model_dir) -> dict[str, dict]:
    configs = {f"tome keep={DEFAULT.keep:g} (default)": {"optimizers": ["tome"]}}
    for keep in SWEEP:
        configs[f"tome keep={keep:g}"] = {"optimizers": ["tome"], "optimizer_settings": {"tome": {"keep": keep}}}
    return configs


tome = comparison_command(
    "tome", configurations, help="Visual tokens, prefill and end-to-end time with ToMe (default and a sweep) vs none."
)
