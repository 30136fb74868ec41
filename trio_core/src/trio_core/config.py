"""Engine configuration: one pydantic-settings model, every field settable as ``TRIO_<FIELD>``.

Precedence is CLI flag > environment > default: the CLI passes only the flags a user gave
as keyword arguments, which pydantic-settings ranks above the environment.

Plugins' own settings (``optimizer_settings``, ``filter_settings``, ``source_settings``) are dictionaries of
``{name: {setting: value}}`` merged setting by setting across those levels, so
``--filter dedup.threshold=0.1`` changes that one setting and keeps the rest from the
environment. Each plugin checks its settings with its own pydantic model, through
:func:`checked_settings`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"

# The built-in filters' settings from before filters had settings of their own, kept as
# documented aliases (so TRIO_DEDUP_THRESHOLD and TrioCore(dedup_threshold=0) still work):
# field -> (filter, setting in filter_settings).
FILTER_ALIASES = {
    "dedup_threshold": ("dedup", "threshold"),
    "motion_gate": ("motion_gate", "enabled"),
    "motion_pixel_threshold": ("motion_gate", "pixel_threshold"),
    "motion_min_area": ("motion_gate", "min_area"),
}


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

    # A remote backend (``--backend openai``): the servers that run the model, and their key.
    endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Base URLs of OpenAI-compatible servers, e.g. 'http://gpu-box:8000/v1' (comma-separated in "
        "TRIO_ENDPOINTS); several form a pool.",
    )
    api_key: SecretStr | None = Field(None, description="The bearer key the endpoints want (never shown or logged).")
    backend_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings per backend, e.g. {'openai': {'max_concurrency': 8}}; each backend checks its own "
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
    max_pixels: int = Field(
        4096 * 4096, ge=28 * 28, le=2**31 - 1,  # frames.MAX_PIXELS (config imports no numpy)
        description="Largest picture decoded, width x height (an image or a video's frames): larger ones are refused "
        "before decoding, a larger JPEG is decoded reduced when that fits.",
    )  # fmt: skip

    # Frame filters.
    filter_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings per frame filter, e.g. {'dedup': {'threshold': 0.05}, 'motion_gate': {'enabled': true}}; "
        "each filter checks its own (trio plugins lists them).",
    )
    # Aliases, folded into filter_settings (see FILTER_ALIASES): an entry of filter_settings for
    # the same setting, given at the same level (keyword arguments, or the environment), wins.
    # They are inputs only: read filter_settings; they are left out of dumps and cannot be assigned.
    dedup_threshold: float | None = Field(
        None, exclude=True, frozen=True, description="Alias of filter_settings dedup.threshold."
    )
    motion_gate: bool | None = Field(
        None, exclude=True, frozen=True, description="Alias of filter_settings motion_gate.enabled."
    )
    motion_pixel_threshold: float | None = Field(
        None, exclude=True, frozen=True, description="Alias of filter_settings motion_gate.pixel_threshold."
    )
    motion_min_area: float | None = Field(
        None, exclude=True, frozen=True, description="Alias of filter_settings motion_gate.min_area."
    )

    # Frame sources.
    source_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings per frame source, e.g. {'stream': {'read_timeout_s': 5}, 'webcam': {'video_size': "
        "'1280x720'}}; each source checks its own (trio plugins lists them).",
    )

    # Media fetched from URLs.
    download_max_mb: float = Field(512.0, gt=0.0, description="Largest media file fetched from a URL.")
    download_timeout_s: float = Field(30.0, gt=0.0, description="Give up on a URL that sends nothing for this long.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # Fold the aliases into filter_settings level by level, before pydantic-settings merges
        # the levels: a keyword alias then beats an environment entry, as any keyword beats the
        # environment, while an entry given next to its alias, at the same level, beats the alias.
        return tuple(
            _FoldingFilterAliases(source)
            for source in (init_settings, env_settings, dotenv_settings, file_secret_settings)
        )

    @field_serializer("endpoints", when_used="json")
    def _masked_endpoints(self, endpoints: list[str]) -> list[str]:
        # What JSON shows (/health, reports) never carries a key given in an endpoint's URL.
        from .credentials import masked

        return [masked(url) for url in endpoints]

    @field_validator("optimizers", "endpoints", mode="before")
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

    Filter and source settings are merged setting by setting: an override (an alias such as
    ``dedup_threshold=0`` or a ``filter_settings`` entry) replaces that one setting of ``base``.
    Invalid values become a :class:`~trio_core.errors.ConfigError` with one readable sentence.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    if base is not None:
        given = fold_filter_aliases(given)
        merged = {
            field: _merged(getattr(base, field), given.get(field, {}))
            for field in ("filter_settings", "source_settings", "backend_settings")
        }
        kept = {"api_key": base.api_key}  # a dump masks the secret; the base's own value carries over
        given = {**base.model_dump(), **kept, **given, **merged}
    try:
        return EngineConfig(**given)
    except ValidationError as exc:
        raise ConfigError(_one_sentence(exc.errors()[0])) from None


def fold_filter_aliases(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (one level of settings) with each alias also set in its ``filter_settings``,
    unless ``filter_settings`` names that setting itself."""
    aliases = {alias: given[alias] for alias in FILTER_ALIASES if given.get(alias) is not None}
    settings = given.get("filter_settings") or {}
    if not aliases or not isinstance(settings, dict):
        return given  # nothing to fold, or a malformed value that validation will name
    folded = {name: dict(fields) if isinstance(fields, dict) else fields for name, fields in settings.items()}
    for alias, value in aliases.items():
        name, setting = FILTER_ALIASES[alias]
        fields = folded.setdefault(name, {})
        if isinstance(fields, dict):
            fields.setdefault(setting, value)
    return {**given, "filter_settings": folded}


def _merged(base: dict[str, dict[str, Any]], over: Any) -> Any:
    """``over``'s settings on top of ``base``'s, setting by setting (a malformed ``over`` is left for validation)."""
    if not isinstance(over, dict):
        return over
    merged: dict[str, Any] = {name: dict(settings) for name, settings in base.items()}
    for name, settings in over.items():
        merged[name] = {**merged.get(name, {}), **settings} if isinstance(settings, dict) else settings
    return merged


class _FoldingFilterAliases:
    """A pydantic-settings source whose values have the filter aliases folded in (see :func:`fold_filter_aliases`)."""

    def __init__(self, source):
        self.source = source
        self.__name__ = type(source).__name__

    def __call__(self) -> dict[str, Any]:
        return fold_filter_aliases(self.source())


SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def checked_settings(model: type[SettingsModel], given: dict[str, Any], *, flag: str, name: str) -> SettingsModel:
    """A plugin's settings: ``given`` checked by its pydantic ``model``.

    A bad value or an unknown setting is a :class:`~trio_core.errors.ConfigError` in one
    sentence that names the flag that sets it, e.g. ``--filter dedup.threshold: Input should
    be less than or equal to 1 (settings of 'dedup': enabled, threshold).``
    """
    try:
        return model(**given)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or name
        known = ", ".join(model.model_fields) or "none"
        raise ConfigError(f"{flag} {name}.{field}: {problem['msg']} (settings of '{name}': {known}).") from None


def _one_sentence(error: dict) -> str:
    """A pydantic error as one sentence naming the setting."""
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across fields
        return f"Invalid settings: {message}."
    field = str(error["loc"][0])
    return f"Invalid setting {field}: {message}."
