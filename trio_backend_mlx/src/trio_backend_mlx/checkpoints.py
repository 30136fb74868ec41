"""Random-weight checkpoints written with MLX alone (no torch): trio's test and benchmark models for the mlx backend.

The configs, tokenizer and processor are trio-core's (``trio_core.random_checkpoints``, the same files the torch
backend writes); the weights are mlx-vlm's own model of that config, initialised by MLX after ``mx.random.seed``
and saved in mlx-vlm's layout (as ``mlx_vlm.convert`` saves them), which mlx-vlm, not transformers, reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

from trio_core.random_checkpoints import write_checkpoint

from .layout import mlx_vlm_config


def write_random_checkpoint(
    family: str, directory: Path, *, size: str = "tiny", depth: tuple[int, int] | None = None, seed: int = 0
) -> Path:
    def write_weights(config, path: Path) -> None:
        import mlx.core as mx
        from mlx.utils import tree_flatten

        config.save_pretrained(path)
        saved = json.loads((path / "config.json").read_text())
        mx.random.seed(seed)
        model = mlx_vlm_model(mlx_vlm_config(saved) or saved)
        weights = dict(tree_flatten(model.parameters()))
        mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})

    return write_checkpoint(family, directory, write_weights, size=size, depth=depth)


def mlx_vlm_model(config: dict):
    """mlx-vlm's model of ``config`` (a config.json in mlx-vlm's layout), with MLX's initial weights, as
    ``mlx_vlm.utils.load_model`` builds it before reading any weights in."""
    from .processors import mlx_vlm_processors

    config = dict(config)
    # Importing a model's module installs mlx-vlm's processor patch: kept to this scope, as on a load.
    with mlx_vlm_processors():
        from mlx_vlm.utils import get_model_and_args, update_module_configs

        model_class, _ = get_model_and_args(config=config)
    for part in ("text_config", "vision_config", "audio_config"):
        config.setdefault(part, {})
    model_config = model_class.ModelConfig.from_dict(config)
    model_config = update_module_configs(
        model_config, model_class, config, ["text", "vision", "perceiver", "projector", "audio"]
    )
    return model_class.Model(model_config)
