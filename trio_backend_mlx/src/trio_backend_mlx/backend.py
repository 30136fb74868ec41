"""The MLX backend: where it runs, which device it picks, and loading a checkpoint with mlx-vlm."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import platform
import sys
from pathlib import Path

from trio_core.backends import Backend
from trio_core.config import EngineConfig
from trio_core.errors import ConfigError, ModelLoadError

from .families import MLXFamily

_DTYPES = ("float32", "float16", "bfloat16")


def apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


class MLXBackend(Backend):
    """Apple MLX through mlx-vlm: the Metal GPU on Apple Silicon, the CPU elsewhere (``mlx[cpu]``)."""

    name = "mlx"

    @property
    def priority(self) -> int:
        # Auto-selection prefers MLX on Apple Silicon (Metal, unified memory) and torch (10) elsewhere.
        return 20 if apple_silicon() else 5

    def is_available(self) -> bool:
        # Cheap (`trio plugins` asks): found, not imported. On Linux, mlx runs only with a backend build beside it.
        if any(importlib.util.find_spec(module) is None for module in ("mlx", "mlx_vlm")):
            return False
        return sys.platform == "darwin" or _installed("mlx-cpu") or _installed("mlx-cuda")

    def unavailable_reason(self) -> str | None:
        if self.is_available():
            return None
        if importlib.util.find_spec("mlx") is not None and importlib.util.find_spec("mlx_vlm") is not None:
            return "mlx has no backend on this machine: run `pip install 'mlx[cpu]'`"
        return "mlx or mlx-vlm is not importable: run `pip install trio-backend-mlx`"

    def devices(self) -> list[str]:
        import mlx.core as mx

        return ["metal", "cpu"] if mx.metal.is_available() else ["cpu"]

    def versions(self) -> dict:
        import mlx_vlm

        return {"mlx": importlib.metadata.version("mlx"), "mlx-vlm": mlx_vlm.__version__}

    def pick_device(self, requested: str) -> str:
        """``auto`` is the Metal GPU where there is one, else the CPU; ``gpu`` means ``metal``."""
        available = self.devices()
        if requested == "auto":
            return available[0]
        wanted = "metal" if requested in ("gpu", "mps") else requested
        if wanted not in available:
            raise ConfigError(f"Device '{requested}' is not available to MLX here (available: {', '.join(available)}).")
        return wanted

    def load(self, model_dir: Path, family: MLXFamily, config: EngineConfig):
        import mlx.core as mx

        from .layout import readable_by_mlx_vlm
        from .processors import mlx_vlm_processors

        device = self.pick_device(config.device)
        if config.dtype not in ("auto", *_DTYPES):
            raise ConfigError(f"dtype '{config.dtype}' is not one MLX runs: use auto, {', '.join(_DTYPES)}.")
        mx.set_default_device(mx.gpu if device == "metal" else mx.cpu)
        checkpoint_config = json.loads((model_dir / "config.json").read_text())
        try:
            with mlx_vlm_processors(), readable_by_mlx_vlm(model_dir, checkpoint_config) as readable:
                from mlx_vlm import load

                from .model import MLXModel

                model, processor = load(str(readable))
        except (OSError, ValueError, KeyError, TypeError, ImportError, AttributeError, RuntimeError) as exc:
            raise ModelLoadError(f"mlx-vlm could not load the model in {model_dir}: {_reason(exc)}") from exc
        if config.dtype != "auto":
            model.set_dtype(getattr(mx, config.dtype))  # floating-point weights only: quantized ones stay
        return MLXModel(model, processor, family, model_dir=model_dir, device=device, config=checkpoint_config)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    """The first line of mlx-vlm's message, without its advice to convert with other tools."""
    text = str(exc).strip()
    if isinstance(exc, FileNotFoundError) and "No safetensors found" in text:
        return "it has no .safetensors weights (an MLX or Hugging Face checkpoint has model*.safetensors)"
    if "not supported" in text.lower() and "model type" in text.lower():
        return f"{text.splitlines()[0]} (mlx-vlm has no implementation of this architecture; try --backend torch)"
    return text.splitlines()[0] if text else type(exc).__name__
