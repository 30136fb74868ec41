"""Hugging Face checkpoints as mlx-vlm reads them.

mlx-vlm's Qwen2-VL / Qwen2.5-VL read the language model's settings from the top of config.json, as the
hub's original checkpoints have them; transformers 5 saves them under ``text_config``, with
``rope_parameters`` for ``rope_theta``/``rope_scaling`` and a ``*_vision`` model type for the tower (trio-tiny
is saved so). Such a checkpoint is shown to mlx-vlm through a staging folder: links to its files and a
config.json with those settings where mlx-vlm looks. The weights' names are the same in both layouts.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

# The model types whose mlx-vlm config reads the language model's settings from the top level.
_TOP_LEVEL_TEXT = ("qwen2_vl", "qwen2_5_vl")


def mlx_vlm_config(config: dict) -> dict | None:
    """``config`` as mlx-vlm's model reads it, or None when it reads it as it is."""
    text = config.get("text_config")
    if config.get("model_type") not in _TOP_LEVEL_TEXT or not isinstance(text, dict) or "hidden_size" in config:
        return None
    flat = {**{key: value for key, value in text.items() if key != "model_type"}, **config}
    rope = text.get("rope_parameters") or {}
    if "rope_theta" in rope:
        flat["rope_theta"] = rope["rope_theta"]
    if "mrope_section" in rope:
        flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    vision = dict(config.get("vision_config") or {})
    vision["model_type"] = config["model_type"]
    flat["vision_config"] = vision
    return flat


@contextlib.contextmanager
def readable_by_mlx_vlm(model_dir: Path, config: dict) -> Iterator[Path]:
    """A folder mlx-vlm loads ``model_dir`` from: the folder itself, or, while the context lasts, a staging
    folder of links with a config.json in mlx-vlm's layout (loading reads the weights in, so it may go after)."""
    flat = mlx_vlm_config(config)
    if flat is None:
        yield model_dir
        return
    with tempfile.TemporaryDirectory(prefix="trio-mlx-") as staging:
        staged = Path(staging)
        for item in model_dir.iterdir():
            if item.name != "config.json":
                (staged / item.name).symlink_to(item.resolve())
        (staged / "config.json").write_text(json.dumps(flat))
        yield staged
