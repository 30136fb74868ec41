"""For tests: random-weight checkpoints with torch weights (the rest of each checkpoint: ``trio_core.random_checkpoints``).

A public testing API (plugin authors use it too, most easily through the ``trio_checkpoint``
pytest fixture that trio-core ships).
"""

from __future__ import annotations

from pathlib import Path

from trio_core.random_checkpoints import FAMILIES, SIZES, build_tokenizer, save_processor, write_checkpoint

__all__ = ["FAMILIES", "SIZES", "build_checkpoint", "build_tokenizer", "save_processor"]


def build_checkpoint(
    family: str, path: str | Path, *, size: str = "tiny", seed: int = 0, depth: tuple[int, int] | None = None
) -> Path:
    """Write a random-weight checkpoint of ``family`` into ``path`` (see ``write_checkpoint`` for sizes).

    Weights are float32 safetensors, initialised by the model's own ``_init_weights`` after
    ``torch.manual_seed(seed)``: the same seed gives the same weights.
    """

    def write_weights(config, directory: Path) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
        model.save_pretrained(directory)

    return write_checkpoint(family, path, write_weights, size=size, depth=depth)
