"""What each stage of the pipeline did, in one object a user can read."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FrameFilterStep(BaseModel):
    """Frames entering and leaving one frame filter."""

    filter: str
    before: int
    after: int


class VisualTokenStep(BaseModel):
    """Visual tokens entering and leaving one optimizer."""

    optimizer: str
    before: int
    after: int


class Metrics(BaseModel):
    """Why an answer was fast or slow: frames, visual tokens, cache, timings and memory.

    Every field is filled by the pipeline on every request; times are milliseconds.
    """

    frames_in: int = Field(0, description="Frames the source yielded after sampling.")
    frame_filter_steps: list[FrameFilterStep] = Field(
        default_factory=list, description="Frames before and after each frame filter that ran, in the order they ran."
    )
    frames_used: int = Field(0, description="Frames given to the model after every filter.")
    visual_tokens: int = Field(
        0, description="Visual tokens the vision encoder produced for the LLM, before optimizers."
    )
    visual_tokens_after: int = Field(0, description="Visual tokens the LLM actually attended to, after optimizers.")
    visual_token_steps: list[VisualTokenStep] = Field(default_factory=list)
    cache_hit: str = Field("none", description="'none' when nothing was reused; a KV-reuse plugin names its hit kind.")
    preprocess_ms: float = Field(0.0, description="Reading, sampling and filtering frames, and the processor.")
    ttft_ms: float = Field(0.0, description="From the call to the first new token (preprocess + prefill).")
    prefill_ms: float = Field(
        0.0, description="Vision encoder and prompt prefill: from the start of generation to the first token."
    )
    decode_ms: float = Field(0.0, description="Generating the tokens after the first.")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    decode_tokens_per_s: float = Field(0.0, description="Tokens after the first, per second of decode.")
    peak_memory_mb: float = Field(
        0.0, description="Peak accelerator memory during the request, or the process's peak RSS on CPU."
    )
    latency_ms: float = Field(0.0, description="End to end, from the call to the final result.")
    sent_bytes: int = Field(0, description="A remote backend: bytes of the request sent to its server, media included.")
    endpoint: str | None = Field(None, description="A remote backend: the server that answered (its URL, masked).")

    def summary(self) -> str:
        """The one-line form the CLI prints after an answer."""
        tokens = f"{self.visual_tokens} visual tokens"
        if self.visual_tokens_after != self.visual_tokens:
            tokens += f" -> {self.visual_tokens_after}"
        return (
            f"{self.latency_ms:.0f} ms total | ttft {self.ttft_ms:.0f} ms | prefill {self.prefill_ms:.0f} ms | "
            f"decode {self.completion_tokens} tok at {self.decode_tokens_per_s:.1f} tok/s | "
            f"frames {self.frames_in}->{self.frames_used} | {tokens} | prompt {self.prompt_tokens} tok | "
            f"cache {self.cache_hit} | peak {self.peak_memory_mb:.0f} MB"
            + (f" | sent {self.sent_bytes / 1024:.1f} KiB to {self.endpoint}" if self.endpoint else "")
        )
