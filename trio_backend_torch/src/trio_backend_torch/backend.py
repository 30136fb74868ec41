"""The torch backend: device and dtype choice, and loading a checkpoint with transformers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from trio_core.backends import Backend
from trio_core.config import EngineConfig
from trio_core.errors import ConfigError, ModelLoadError

from .families import TorchFamily


class TorchBackend(Backend):
    """PyTorch + transformers on CUDA, Apple MPS or the CPU."""

    name = "torch"
    priority = 10

    def is_available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in ("torch", "transformers"))

    def unavailable_reason(self) -> str | None:
        if self.is_available():
            return None
        return "torch or transformers is not importable: run `pip install trio-backend-torch`"

    def devices(self) -> list[str]:
        import torch

        found = []
        if torch.cuda.is_available():
            found += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            found.append("mps")
        return [*found, "cpu"]

    def versions(self) -> dict:
        import torch
        import transformers

        return {"torch": torch.__version__, "transformers": transformers.__version__}

    def load(self, model_dir: Path, family: TorchFamily, config: EngineConfig):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from .model import TorchModel

        device = self.pick_device(config.device)
        dtype = pick_dtype(config.dtype, device)
        try:
            processor = AutoProcessor.from_pretrained(model_dir)
            model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=getattr(torch, dtype))
        except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"transformers could not load the model in {model_dir}: {reason}") from exc
        model.to(device).eval()
        return TorchModel(model, processor, family, model_dir=model_dir, device=device, dtype=dtype)

    def write_random_checkpoint(self, family: str, directory: Path, *, size: str = "tiny", depth=None) -> Path:
        from .testing import build_checkpoint

        try:
            return build_checkpoint(family, directory, size=size, depth=depth)
        except ValueError as error:  # an unknown family or size: say which exist
            raise ConfigError(str(error)) from None

    def pick_device(self, requested: str) -> str:
        """``auto`` is the best device here (cuda > mps > cpu); anything else must exist."""
        available = self.devices()
        if requested == "auto":
            return available[0]
        wanted = "cuda:0" if requested == "cuda" else requested
        if wanted not in available:
            raise ConfigError(f"Device '{requested}' is not available here (available: {', '.join(available)}).")
        return wanted


def pick_dtype(requested: str, device: str) -> str:
    """``auto`` is bfloat16 on GPUs that support it, float16 on other GPUs, float32 on the CPU."""
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16" if device == "mps" else "float32"
