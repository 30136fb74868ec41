"""Engine configuration: one pydantic-settings model, every field settable as ``TRIO_<FIELD>``.

Precedence is CLI flag > environment > default: the CLI passes only the flags a user gave
as keyword arguments, which pydantic-settings ranks above the environment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


class EngineConfig(BaseSettings):
    """Everything that decides how trio loads a model and answers a question."""

    model_config = SettingsConfigDict(env_prefix="TRIO_", extra="forbid", validate_assignment=True)

    # Model and where it runs.
    model: str = Field(DEFAULT_MODEL, description="Hub id (e.g. Qwen/Qwen2.5-VL-3B-Instruct) or a local directory.")
    backend: str = Field("auto", description="Backend plugin name, or 'auto' for the best available one.")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', 'mps', ...")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="'auto' is bfloat16/float16 on a GPU and float32 on the CPU."
    )
    optimizers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Vision-token optimizers to apply, e.g. 'tome,kvreuse'."
    )
    optimizer_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings per optimizer, e.g. {'tome': {'keep': 0.5}}; each optimizer checks its own "
        "(trio plugins lists them).",
    )

    # Generation.
    max_tokens: int = Field(256, ge=1, le=32768, description="Most new tokens per answer.")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="0 decodes greedily.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass (only when temperature > 0).")
    seed: int | None = Field(None, description="Seed for sampling, for reproducible non-greedy answers.")
    strip_thinking: bool = Field(True, description="Remove <think>...</think> blocks from answers.")

    # Frame sampling: uniform in time, by seeking.
    fps: float = Field(2.0, gt=0.0, le=60.0, description="Frames sampled per second of video.")
    min_frames: int = Field(2, ge=1, le=1024, description="Fewest frames sampled from a video (if it has them).")
    max_frames: int = Field(16, ge=1, le=1024, description="Most frames sampled from a video.")
    max_side: int = Field(
        640, ge=28, le=3840, description="Frames are scaled down at decode time so their longer side fits."
    )

    # Frame filters.
    dedup_threshold: float = Field(
        0.03,
        ge=0.0,
        le=1.0,
        description="Drop a frame when even its most changed 1/64 of the picture differs from the last kept "
        "frame by less than this on average (grayscale, 0..1); 0 turns dedup off.",
    )
    motion_gate: bool = Field(False, description="Keep only frames that moved relative to the last kept frame.")
    motion_pixel_threshold: float = Field(
        0.1, gt=0.0, le=1.0, description="A pixel has moved when its grayscale value changes by more than this (0..1)."
    )
    motion_min_area: float = Field(
        0.005, gt=0.0, le=1.0, description="A frame has motion when at least this fraction of its pixels moved."
    )

    # Media fetched from URLs.
    download_max_mb: float = Field(512.0, gt=0.0, description="Largest media file fetched from a URL.")
    download_timeout_s: float = Field(30.0, gt=0.0, description="Give up on a URL that sends nothing for this long.")

    @field_validator("optimizers", mode="before")
    @classmethod
    def _split_names(cls, value):
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _frames_in_order(self):
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames ({self.min_frames}) is larger than max_frames ({self.max_frames})")
        return self


def load_config(base: EngineConfig | None = None, **overrides) -> EngineConfig:
    """An :class:`EngineConfig` with ``overrides`` (those not ``None``) on top of ``base``, or of the environment.

    Invalid values become a :class:`~trio_core.errors.ConfigError` with one readable sentence.
    """
    from pydantic import ValidationError

    from .errors import ConfigError

    given = {key: value for key, value in overrides.items() if value is not None}
    if base is not None:
        given = {**base.model_dump(), **given}
    try:
        return EngineConfig(**given)
    except ValidationError as exc:
        raise ConfigError(_one_sentence(exc.errors()[0])) from None


def _one_sentence(error: dict) -> str:
    """A pydantic error as one sentence naming the setting."""
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across fields
        return f"Invalid settings: {message}."
    field = str(error["loc"][0])
    return f"Invalid setting {field}: {message}."
