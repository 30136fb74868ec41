"""``/analyze-frame``, ``/v1/video/analyze`` and ``/v1/frames/analyze``: trio's own endpoints."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..frames import SamplingPlan
from ..metrics import Metrics
from ..pipeline import Clip, read_clip
from ..sdk import AnalysisResult
from .conversation import frames_of_images
from .errors import APIError, stream_error
from .media import MediaResolver, decode_base64, decode_data_url, open_image
from .streams import AnswerStream, answer, sse

router = APIRouter(tags=["analysis"])
YES_NO_MASS = 0.5  # below this, the model's first token was neither yes nor no: not a yes/no answer


class FrameQuestion(BaseModel):
    frame_b64: str = Field(description="The image, base64 (JPEG, PNG, ...), or a data: URL.")
    question: str = Field(min_length=1, max_length=4000)
    max_tokens: int | None = Field(None, ge=1, le=4096)


class FrameAnswer(BaseModel):
    answer: str
    triggered: bool | None = Field(
        description="The model's yes (true) or no (false), from its first answer token's probabilities; "
        "null when the answer is not a yes or a no."
    )
    yes_probability: float | None = Field(description="P(yes) / (P(yes) + P(no)) for the first answer token.")
    latency_ms: float


@router.post("/analyze-frame", response_model=FrameAnswer)
async def analyze_frame(body: FrameQuestion, request: Request) -> FrameAnswer:
    """One camera snapshot and a question; ``triggered`` says whether the answer was yes."""
    state = request.app.state
    started = time.perf_counter()
    engine = state.host.check_capacity()

    def read():
        text = body.frame_b64
        payload = decode_data_url(text, "frame") if text.startswith("data:") else decode_base64(text, "frame")
        return engine.read_frame(open_image(payload, "frame", engine.config.max_pixels))

    clip = await run_in_threadpool(read)
    settings = state.settings.answer_settings(max_tokens=body.max_tokens, yes_no=True)
    result = await answer(state, lambda engine: engine.stream_frame(clip, body.question, **settings))
    return FrameAnswer(
        answer=result.text,
        triggered=triggered(result),
        yes_probability=result.yes_probability,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


def triggered(result: AnalysisResult) -> bool | None:
    if result.yes_no_mass is None or result.yes_no_mass < YES_NO_MASS or result.yes_probability is None:
        return None
    return result.yes_probability >= 0.5


class VideoQuestion(BaseModel):
    video: str = Field(description="An http(s) URL, a data: URL, or a path under the server's media roots.")
    prompt: str = Field(min_length=1, max_length=16000)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    fps: float | None = Field(None, gt=0.0, le=60.0, description="Frames sampled per second of video.")
    max_frames: int | None = Field(None, ge=1, description="Most frames sampled (clamped by the server).")
    max_side: int | None = Field(None, ge=28, description="Longest frame side in pixels (clamped by the server).")
    stream: bool = Field(False, description="Server-sent events: 'delta' events, then one 'result'.")


@router.post("/v1/video/analyze")
async def analyze_video(body: VideoQuestion, request: Request):
    """A video and a prompt: the answer with full metrics, or a stream of it."""
    state = request.app.state
    engine = state.host.check_capacity()
    plan = clamped_plan(state.settings, engine.config, fps=body.fps, max_frames=body.max_frames, max_side=body.max_side)

    def read() -> Clip:
        with MediaResolver(state.settings, engine.config.max_pixels) as resolver:
            return read_clip(resolver.video(body.video), plan, engine.config)

    clip = await run_in_threadpool(read)
    settings = state.settings.answer_settings(
        max_tokens=body.max_tokens, temperature=body.temperature, top_p=body.top_p, seed=body.seed
    )
    return await respond(request, clip, body.prompt, settings, body.stream)


@router.post("/v1/frames/analyze")
async def analyze_frames(
    request: Request,
    frames: Annotated[list[UploadFile], File(description="The frames, in time order (JPEG, PNG, ...).")],
    prompt: Annotated[str, Form(min_length=1, max_length=16000)],
    max_tokens: Annotated[int | None, Form(ge=1)] = None,
    temperature: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
    fps: Annotated[float | None, Form(gt=0.0, le=60.0, description="The rate the frames were taken at.")] = None,
    stream: Annotated[bool, Form()] = False,
):
    """Several uploaded frames of one scene and a prompt: answered as a video."""
    state = request.app.state
    engine = state.host.check_capacity()
    plan = clamped_plan(state.settings, engine.config, fps=fps, max_frames=None, max_side=None)
    uploads = [await upload.read() for upload in frames]
    started = time.perf_counter()

    def read() -> Clip:
        images = [open_image(data, f"frame {i + 1}", engine.config.max_pixels) for i, data in enumerate(uploads)]
        clip_frames = frames_of_images(engine, images, plan.max_frames, plan.fps)
        # The caller chose these frames: they are thinned to the server's limit, never filtered as a clip.
        metrics = Metrics(frames_in=len(images), frames_used=len(clip_frames))
        return Clip(clip_frames, plan, metrics, read_ms=(time.perf_counter() - started) * 1000)

    clip = await run_in_threadpool(read)
    settings = state.settings.answer_settings(max_tokens=max_tokens, temperature=temperature)
    return await respond(request, clip, prompt, settings, stream)


def clamped_plan(settings, config, *, fps, max_frames, max_side) -> SamplingPlan:
    """The request's sampling, within the server's limits (frame count and size are clamped, not refused)."""
    most = min(max_frames or config.max_frames, settings.request_max_frames)
    side = min(max_side or config.max_side, settings.request_max_side)
    return SamplingPlan(
        fps=fps or config.fps, min_frames=min(config.min_frames, most), max_frames=most, max_side=side,
        max_pixels=config.max_pixels,
    )  # fmt: skip


async def respond(request: Request, clip: Clip, prompt: str, settings: dict, stream: bool):
    if not stream:
        return await answer(request.app.state, lambda engine: engine.stream_video(clip, prompt, **settings))
    return StreamingResponse(stream_events(request, clip, prompt, settings), media_type="text/event-stream")


async def stream_events(request: Request, clip: Clip, prompt: str, settings: dict):
    state = request.app.state
    deadline = time.monotonic() + state.settings.request_timeout_s
    try:
        async with state.host.turn() as engine:
            stream = AnswerStream(engine.stream_video(clip, prompt, **settings), deadline)
            async for delta in stream:
                yield sse({"text": delta}, event="delta")
        state.telemetry.answered(stream.result)
        yield sse(stream.result.model_dump(mode="json"), event="result")
    except Exception as error:
        yield sse(stream_error(error), event="error")


__all__ = ["router", "APIError"]
