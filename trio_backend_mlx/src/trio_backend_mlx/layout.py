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
# The model types whose mlx-vlm vision tower checks for the model's own type, not transformers 5's `*_vision`.
_TOWER_OF_MODEL_TYPE = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


def mlx_vlm_config(config: dict) -> dict | None:
    """``config`` as mlx-vlm's model reads it, or None when it reads it as it is."""
    text = config.get("text_config")
    if not isinstance(text, dict):
        return None
    model_type = config.get("model_type")
    vision = dict(config.get("vision_config") or {})
    tower_named_apart = model_type in _TOWER_OF_MODEL_TYPE and vision.get("model_type") == f"{model_type}_vision"
    if tower_named_apart:
        vision["model_type"] = model_type
    rope = text.get("rope_parameters") or {}
    if model_type not in _TOP_LEVEL_TEXT or "hidden_size" in config:
        # Other families read text_config itself (Qwen3-VL), with rope_theta where transformers 4 had it.
        if ("rope_theta" in text or "rope_theta" not in rope) and not tower_named_apart:
            return None
        text = dict(text)
        if "tie_word_embeddings" in config:  # transformers 5 keeps it at the top only
            text.setdefault("tie_word_embeddings", config["tie_word_embeddings"])
        if "rope_theta" in rope and "rope_theta" not in text:
            text["rope_theta"] = rope["rope_theta"]
            if "mrope_section" in rope:
                text["rope_scaling"] = {**rope, "type": rope.get("rope_type", "default")}
        return {**config, "text_config": text, "vision_config": vision}
    flat = {**{key: value for key, value in text.items() if key != "model_type"}, **config}
    if "rope_theta" in rope:
        flat["rope_theta"] = rope["rope_theta"]
    if "mrope_section" in rope:
        flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
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
