"""How a watch samples, decides and paces: :class:`WatchSettings`, one field per CLI flag of the same name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WatchSettings(BaseModel):
    """How a watch samples, decides and paces; every field has a CLI flag of the same name."""

    model_config = ConfigDict(extra="forbid")

    fps: float = Field(1.0, gt=0.0, le=30.0, description="Frames checked per second of the source.")
    confirm: int = Field(1, ge=1, le=1000, description="Consecutive yes frames before an alert starts.")
    clear: int = Field(1, ge=1, le=1000, description="Consecutive no frames before an alert is cleared.")
    cooldown_s: float = Field(
        30.0, ge=0.0, le=86_400, description="Seconds of the source after an alert's start before it may start again."
    )
    window: int = Field(
        1, ge=1, le=64, description="Frames each condition sees: the newest one, or the last K as a clip."
    )
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="P(yes) / (P(yes) + P(no)) from which an answer is yes.")
    realtime: bool = Field(
        False, description="Pace a file as if it were live: analyse the newest frame, drop the rest."
    )
    max_tokens: int = Field(8, ge=1, le=256, description="Most tokens of each answer.")
    max_side: int | None = Field(None, ge=28, le=3840, description="Longest frame side (default: the engine's).")
    heartbeat_s: float = Field(10.0, gt=0.0, description="A heartbeat event after this long with nothing else to say.")
