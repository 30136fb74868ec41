"""The server's own settings (the model's are trio's EngineConfig): every field settable as ``TRIO_<FIELD>``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Where ``trio serve`` listens, who may call it, and the limits that keep it standing."""

    model_config = SettingsConfigDict(env_prefix="TRIO_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to bind; anything but loopback needs an API key.")
    port: int = Field(8000, ge=0, le=65535)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer keys accepted on every endpoint but /healthz (comma-separated)."
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer keys that may also reload the model (comma-separated)."
    )
    allow_public_without_key: bool = Field(
        False, description="Serve a non-loopback address with no API key (anyone who can reach it may use it)."
    )
    media_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Directories whose files requests may name by path (comma-separated)."
    )
    allow_private_urls: bool = Field(
        False, description="Let a request's URLs (media, sinks: webhooks, MQTT, Apprise) reach private, loopback, "
        "link-local and other non-public addresses.",
    )
    wrong_keys_per_minute: int = Field(
        10, ge=1, le=10_000, description="Wrong keys (login or bearer) a client address may send a minute; then 429."
    )
    max_body_mb: float = Field(64.0, gt=0.0, description="Largest request body; larger gets 413.")
    media_max_mb: float = Field(256.0, gt=0.0, description="Largest media file fetched from a URL.")
    media_timeout_s: float = Field(20.0, gt=0.0, description="Give up on a media URL after this long.")
    queue_size: int = Field(8, ge=0, le=10_000, description="Requests waiting for the model; beyond this, 429.")
    request_timeout_s: float = Field(300.0, gt=0.0, description="Longest a request may take, waiting included.")
    # Caps on what one request may ask for (the engine's own max_tokens, max_frames and max_side are its defaults).
    request_max_tokens: int = Field(4096, ge=1, le=32768, description="Most new tokens a request may ask for.")
    request_max_frames: int = Field(64, ge=1, le=1024, description="Most frames a request may ask for.")
    media_ids_mb: float = Field(
        256.0, ge=0.0, description="Memory for media kept by the uuid a client gave them (0: keep none)."
    )
    request_max_side: int = Field(1344, ge=28, le=3840, description="Largest frame side a request may ask for.")
    max_watches: int = Field(4, ge=0, le=256, description="Camera watches running at once.")
    alert_cooldown_s: float = Field(30.0, ge=0.0, description="Default quiet time after a watch alert.")
    json_logs: bool = Field(False, description="Log one JSON object per line.")
    events_dir: Path | None = Field(
        None, description="The event store's folder (default: trio's per-user data folder)."
    )
    watches: Path | None = Field(
        None, description="A watches file (TOML) whose watches run from start-up; SIGHUP reloads it."
    )
    public_url: str | None = Field(
        None, description="The server's address as sinks reach it (http://host:8000): webhooks may link snapshots."
    )

    @field_validator("api_keys", "admin_keys", "media_roots", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def answer_settings(self, *, max_tokens: int | None, **values) -> dict:
        """A request's answer settings for the engine: those it gave, its token limit within ``request_max_tokens``."""
        if max_tokens:
            values["max_tokens"] = min(max_tokens, self.request_max_tokens)
        return {key: value for key, value in values.items() if value is not None}

    def keys(self) -> set[str]:
        """Every key that may call the API (admin keys included)."""
        return {key.get_secret_value() for key in (*self.api_keys, *self.admin_keys)}

    def admin(self) -> set[str]:
        return {key.get_secret_value() for key in self.admin_keys}

    def loopback_only(self) -> bool:
        return is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
