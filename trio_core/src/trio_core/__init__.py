"""trio: local vision-language-model inference for video.

The core is light: importing it loads no ML framework. Backends, model families and
optimizers arrive as plugins (entry-point group ``trio``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    BackendUnavailableError,
    ConfigError,
    IncompatibleOptimizerError,
    MediaError,
    ModelLoadError,
    PluginNotFoundError,
    TrioError,
)
from .hookspecs import hookimpl

__all__ = [
    "AnalysisResult",
    "BackendUnavailableError",
    "ConfigError",
    "EngineConfig",
    "IncompatibleOptimizerError",
    "MediaError",
    "Metrics",
    "ModelLoadError",
    "PluginNotFoundError",
    "TrioCore",
    "TrioError",
    "hookimpl",
]

if TYPE_CHECKING:
    from .config import EngineConfig
    from .metrics import Metrics
    from .sdk import AnalysisResult, TrioCore

_LAZY = {
    "TrioCore": "sdk",
    "AnalysisResult": "sdk",
    "EngineConfig": "config",
    "Metrics": "metrics",
}


def __getattr__(name: str):
    # The SDK pulls in PyAV and pydantic; load it on first use so `import trio_core` stays fast.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'trio_core' has no attribute {name!r}")
