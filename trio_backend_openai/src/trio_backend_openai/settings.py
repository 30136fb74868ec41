"""The remote backend's settings (``--backend-setting openai.NAME=VALUE``, ``backend_settings={"openai": {...}}``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RemoteSettings(BaseModel):
    """How trio talks to its endpoints."""

    model_config = ConfigDict(extra="forbid")

    max_concurrency: int = Field(
        4, ge=1, le=1024, description="Requests in flight at once per endpoint; more wait here, not on the server."
    )
    queue_timeout_s: float = Field(
        30.0, gt=0, description="How long a request waits here for a free slot before it gives up."
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="Give up connecting to an endpoint after this long.")
    read_timeout_s: float = Field(
        120.0, gt=0, description="Give up on an answer when the server sends nothing for this long."
    )
    media: Literal["auto", "video_url", "frames", "images"] = Field(
        "auto",
        description="How a video is sent: auto (the best the server takes), video_url (an MP4 of the sampled "
        "frames), frames (a list of JPEGs, trio's 'video' part), images (one image_url per frame).",
    )
    media_ids: Literal["auto", "on", "off"] = Field(
        "auto", description="Send media the server already has by id (vLLM's uuid) instead of their bytes."
    )
    jpeg_quality: int = Field(90, ge=30, le=100, description="JPEG quality of the frames sent.")
    backoff_s: float = Field(1.0, gt=0, description="How long a failing endpoint is first left out; it doubles.")
    backoff_max_s: float = Field(60.0, gt=0, description="The longest an endpoint is left out at a time.")
    probe: bool = Field(
        True, description="Probe a server that does not state what it accepts (video, images, ids, logprobs)."
    )
