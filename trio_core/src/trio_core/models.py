"""Resolving a model reference (hub id or local directory) to a directory on disk."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class NamedModel:
    """A model a plugin makes available by name (``--model trio-tiny``).

    ``location`` is a local directory (e.g. weights shipped inside the plugin's package) or a
    hub id.
    """

    name: str
    location: str | Path
    description: str = ""

    def describe(self) -> dict:
        return {"location": str(self.location), "description": self.description}


def resolve_model(reference: str) -> Path:
    """The local directory holding ``reference``'s files, downloading from the hub if needed.

    A name registered by a plugin (``trio-tiny``) stands for its location. A directory that
    exists is used as it is. Anything else that looks like ``org/name`` is fetched with
    huggingface_hub (its cache, progress bars and ``HF_HUB_OFFLINE`` apply).
    """
    from .plugins import registry

    for named in registry().objects("model"):
        if named.name == reference:
            location = Path(named.location)
            if location.is_absolute() and not location.is_dir():
                raise ModelLoadError(
                    f"Model '{reference}' is registered by a plugin, but its files are missing from {location}: "
                    "reinstall the plugin that provides it."
                )
            reference = str(named.location)
            break
    path = Path(reference).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json: point --model at a Hugging Face model directory.")
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is a file: point --model at a model directory or a hub id like org/name.")
    if not _HUB_ID.match(reference):
        raise ModelLoadError(
            f"Model '{reference}' is neither a local directory nor a hub id like Qwen/Qwen2.5-VL-3B-Instruct."
        )
    return _download(reference)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_MODEL_FILES))
    except GatedRepoError:
        raise ModelLoadError(
            f"Model '{repo_id}' is gated: accept its licence on the hub and run `hf auth login`."
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"Model '{repo_id}' does not exist on the hub (or is private): check the name.") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        if os.environ.get("HF_HUB_OFFLINE"):
            raise ModelLoadError(
                f"Model '{repo_id}' is not in the local cache and HF_HUB_OFFLINE is set: download it once online, "
                "or pass a local directory."
            ) from None
        raise ModelLoadError(
            f"Model '{repo_id}' could not be downloaded (no connection to the hub?) and is not cached: "
            "check the network or pass a local directory."
        ) from None
    except OSError as exc:
        raise ModelLoadError(f"Model '{repo_id}' could not be downloaded: {exc}.") from None


# Weights, configs, tokenizer and processor files; not the repo's READMEs, images or other formats.
_MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken", "*.py"]


def read_model_type(model_dir: Path) -> str:
    """``model_type`` from ``config.json``: what decides the model family."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{model_dir / 'config.json'} could not be read: {exc}.") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not model_type:
        raise ModelLoadError(f"{model_dir / 'config.json'} has no model_type: is this a transformers checkpoint?")
    return str(model_type)
