"""The backend contract: how a plugin loads a model and generates an answer."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat import Message
    from .config import EngineConfig
    from .families import ModelFamily
    from .generation import RequestHook


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode: greedy when ``temperature`` is 0."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    # Note how likely the first answer token is "yes" against "no" (GenerationStats.yes_probability).
    yes_no: bool = False
    # End the answer before the first of these strings (it is not shown); finish_reason "stop".
    stop: tuple[str, ...] = ()
    # Constrain the answer to JSON valid under this schema (``{"type": "object"}``: any JSON object).
    json_schema: dict | None = None
    # Note each answer token's log-probability and this many most likely alternatives (None: none noted).
    top_logprobs: int | None = None

    @classmethod
    def from_config(cls, config: EngineConfig, **overrides: Any) -> GenerationSettings:
        values = {
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "seed": config.seed,
            "yes_no": False,
            "stop": (),
            "json_schema": None,
            "top_logprobs": None,
        }
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            from .errors import ConfigError

            raise ConfigError(
                f"Unknown setting {', '.join(unknown)} for an answer: use max_tokens, temperature, top_p, seed, "
                "stop, yes_no, json_schema, top_logprobs or strip_thinking (other settings belong to TrioCore(...))."
            )
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["stop"] = (values["stop"],) if isinstance(values["stop"], str) else tuple(values["stop"])
        return cls(**values)


@dataclass
class PreparedPrompt:
    """Model inputs built by a family from a conversation; ``inputs`` is backend-specific."""

    inputs: Any
    prompt_tokens: int
    visual_tokens: int
    frames: tuple = ()  # the media's frames (trio_core.frames.Frame), in prompt order: what a cache compares


@dataclass
class TokenLogprob:
    """One answer token as the model chose it: its text, its log-probability, and the most likely alternatives
    at that step (``(text, log-probability)``, most likely first), from the model's own distribution."""

    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class GenerationStats:
    """What one generation did; filled by the backend as it runs."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    finish_reason: str = "stop"
    token_ids: list[int] = field(default_factory=list)
    # Optimizers report here: one (name, tokens before, tokens after) per optimizer that acted.
    visual_token_steps: list[tuple[str, int, int]] = field(default_factory=list)
    cache_hit: str = "none"
    # With GenerationSettings.yes_no, from the first answer token's distribution: P(yes) / (P(yes) + P(no)),
    # and P(yes) + P(no) (low when the model is not answering yes or no). None when not measured.
    yes_probability: float | None = None
    yes_no_mass: float | None = None
    # With GenerationSettings.top_logprobs: one per answer token (end tokens left out).
    logprobs: list[TokenLogprob] | None = None
    # A remote backend: the request's bytes sent over the network (media included), and where they went.
    sent_bytes: int = 0
    endpoint: str | None = None


# What the request being made belongs to (a watch's id): a remote backend sends all of one key's requests to
# the same server, so that its prefix and media caches stay warm. Set with :func:`routed`; None: no preference.
route_key: ContextVar[str | None] = ContextVar("trio_route_key", default=None)


@contextlib.contextmanager
def routed(key: str | None) -> Iterator[None]:
    """Requests made inside this block (on this thread) belong to ``key``."""
    token = route_key.set(key)
    try:
        yield
    finally:
        route_key.reset(token)


class LoadedModel(ABC):
    """A model loaded by a backend, ready to answer.

    ``request_hooks`` is how optimizers take part in its requests (trio_core.generation): a
    backend that runs them gives each model its own list and drives the hooks around every
    generation; ``None`` (the default) means the backend runs no optimizers, and asking for one
    is refused at load.
    """

    backend: str
    family: ModelFamily
    model_dir: Path
    device: str
    dtype: str
    request_hooks: list[RequestHook] | None = None
    raw_library: str | None = None  # what raw_generate calls ("transformers generate"), for reports
    max_model_len: int | None = None  # the context the model was trained for, in tokens (None: not known)
    # Whether generations may run at once from several threads (a remote backend: its servers batch them, and it
    # bounds them itself); a local model answers one at a time, and the server queues requests for it.
    concurrent: bool = False

    @abstractmethod
    def prepare(self, messages: list[Message]) -> PreparedPrompt:
        """Turn a conversation (text, images, videos) into model inputs with the family's processor."""

    def prepare_each(self, conversations: list[list[Message]]) -> list[PreparedPrompt]:
        """:meth:`prepare` for several conversations (a watch's conditions about one frame). A backend may
        process media they share once instead of once per conversation."""
        return [self.prepare(messages) for messages in conversations]

    @abstractmethod
    def generate(self, prompt: PreparedPrompt, settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        """Yield text deltas of the answer, filling ``stats`` as generation proceeds."""

    def generate_each(
        self, prompts: list[PreparedPrompt], settings: GenerationSettings, stats: list[GenerationStats]
    ) -> list[str]:
        """The answer to each prompt (several questions about the same media, say), filling each one's stats.

        Here they run one after another; a backend may run them together.
        """
        return ["".join(self.generate(prompt, settings, stat)) for prompt, stat in zip(prompts, stats, strict=True)]

    def check_json_schema(self, schema: dict) -> None:
        """Refuse, with a :class:`~trio_core.errors.ConfigError` that names the problem, a schema the backend cannot
        constrain answers to (``GenerationSettings.json_schema``). A backend that constrains answers overrides it."""
        from .errors import ConfigError

        raise ConfigError(f"The {self.backend} backend cannot constrain answers to a JSON schema.")

    def raw_generate(self, frames: list, question: str, *, fps: float, max_tokens: int) -> list[int]:
        """The greedy answer's token ids to ``question`` about ``frames`` (one: an image; more: a video at
        ``fps``), from the backend's library called the way its documentation shows, with none of trio's
        code: what ``trio bench overhead`` times trio against. Optional."""
        from .errors import ConfigError

        raise ConfigError(f"The {self.backend} backend has no raw-library path for `trio bench overhead` to time.")

    def reset_peak_memory(self) -> None:  # noqa: B027 - optional: only accelerators have a resettable peak
        """Start a new peak-memory window (a request)."""

    def peak_memory_mb(self) -> float:
        """Peak memory since :meth:`reset_peak_memory`: accelerator memory, or the process's peak RSS."""
        return process_peak_rss_mb()

    def close(self) -> None:  # noqa: B027 - optional: most models free their memory when dropped
        """Release the model's memory."""


class Backend(ABC):
    """An inference engine that can load checkpoints of some model families.

    A backend with ``local = False`` runs no checkpoint here: it sends requests to servers
    (``EngineConfig.endpoints``), its ``load`` gets no model directory, and its family is its
    fallback one.
    """

    name: str
    priority: int = 0
    local: bool = True

    @abstractmethod
    def is_available(self) -> bool:
        """Whether this backend can run on this machine now (its libraries import, its hardware exists)."""

    def unavailable_reason(self) -> str | None:
        return None if self.is_available() else f"the {self.name} backend cannot run here"

    def devices(self) -> list[str]:
        """Devices this backend could use here, best first."""
        return []

    @abstractmethod
    def load(self, model_dir: Path | None, family: ModelFamily, config: EngineConfig) -> LoadedModel:
        """Load the checkpoint in ``model_dir`` (already downloaded) on the configured device; a remote backend
        (``local = False``) gets None and connects to ``config.endpoints`` instead."""

    def write_random_checkpoint(
        self, family: str, directory: Path, *, size: str = "tiny", depth: tuple[int, int] | None = None
    ) -> Path:
        """Write a random-weight checkpoint of ``family`` that this backend loads, for tests and benchmarks.

        Optional. ``size="tiny"`` is as small as the architecture allows; ``"bench"`` has a real
        checkpoint's layer widths, with ``depth`` (vision blocks, LLM layers). Returns the directory.
        """
        from .errors import ConfigError

        raise ConfigError(f"The {self.name} backend cannot write random-weight checkpoints: pass --model DIR.")

    def describe(self) -> dict:
        # Cheap on purpose: `trio plugins` must not import a framework; `trio doctor` lists devices.
        return {"priority": self.priority, "available": self.is_available()}


def available_by_priority(backends: list[Backend]) -> list[Backend]:
    """The backends that can run here, the one ``--backend auto`` prefers first."""
    return sorted((backend for backend in backends if backend.is_available()), key=lambda backend: -backend.priority)


def process_peak_rss_mb() -> float:
    """The process's peak resident memory in MB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
