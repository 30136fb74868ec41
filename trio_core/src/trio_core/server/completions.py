"""``/v1/models`` and ``/v1/chat/completions``: OpenAI's chat API over the loaded model."""

from __future__ import annotations

import functools
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..chat import ImagePart, Message, TextPart
from ..errors import TrioError
from ..sdk import TrioCore
from .conversation import frames_part, image_part, video_part
from .errors import APIError, stream_error
from .media import MediaResolver
from .media_ids import MediaById, caller_of
from .streams import AnswerStream, answer, sse

router = APIRouter()


class ImageURL(BaseModel):
    url: str
    detail: str | None = None


class VideoURL(BaseModel):
    url: str


class TextContent(BaseModel):
    type: Literal["text"]
    text: str


# A media part may carry a ``uuid`` (as vLLM's do): sent with its media, they are kept under it; sent alone
# (the media null), the media kept under it are used (server/media_ids.py).
MEDIA_ID = Field(None, min_length=1, max_length=128, description="An id for these media, to send them by id later.")


class ImageContent(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL | str | None
    uuid: str | None = MEDIA_ID


class VideoURLContent(BaseModel):
    type: Literal["video_url"]
    video_url: VideoURL | str | None
    uuid: str | None = MEDIA_ID


class FrameRef(BaseModel):
    """One frame of a ``video`` list with an id: its URL and ``uuid`` (kept under it), or the ``uuid`` alone (a frame
    sent before): a clip's sliding window sends each frame's bytes once."""

    url: str | None = None
    uuid: str | None = MEDIA_ID


class VideoFramesContent(BaseModel):
    type: Literal["video"]
    video: list[str | FrameRef] | str | None = Field(
        description="A video URL, or its frames in order: URLs, or {url, uuid} objects."
    )
    uuid: str | None = MEDIA_ID
    # As Qwen's own API has it: the rate the listed frames were sampled at, so that the model places them in time
    # as the client saw them (a video URL is sampled here, at the server's --fps).
    fps: float | None = Field(None, gt=0.0, le=60.0, description="The rate the listed frames were sampled at.")


ContentPart = Annotated[TextContent | ImageContent | VideoURLContent | VideoFramesContent, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    # A bare string among the parts is text: older Frigate releases send the prompt that way.
    content: str | list[ContentPart | str] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class JsonSchemaFormat(BaseModel):
    name: str = Field("answer", max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    json_schema: dict = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = Field(None, description="Answers always follow the schema here, strict or not.")


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: free text, any JSON object, or JSON valid under a schema (constrained
    decoding: the answer always parses against it)."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def schema_to_follow(self) -> dict | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "object"}
        if self.json_schema is None:
            raise APIError(400, "response_format: type json_schema needs a json_schema object with its schema.",
                           param="response_format.json_schema")  # fmt: skip
        return self.json_schema.json_schema


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = Field(None, description="Up to 4 strings that end the answer.")
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice is generated.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool = Field(False, description="Return each answer token's log-probability.")
    top_logprobs: int | None = Field(None, ge=0, le=20, description="With logprobs: this many alternatives a token.")


class ServedCapabilities(BaseModel):
    """What this server takes, so that a client (trio's openai backend) need not probe for it."""

    media: list[str] = Field(
        default_factory=lambda: ["image_url", "video_url", "video"],
        description="Content part types it takes: images, video files, videos as lists of frames.",
    )
    video: Literal["frames", "video_url", "images"] = Field(
        "frames",
        description="How it would have a clip a client already sampled: as a video part listing the frames, with "
        "their fps, which it takes as they are (a video_url is sampled again, at this server's --fps, and "
        "deduplicated).",
    )
    media_ids: bool = Field(True, description="Media parts may carry a uuid, and later be sent by it alone.")
    logprobs: bool = Field(True, description="logprobs and top_logprobs are returned.")
    json_schema: bool = Field(True, description="response_format json_schema is followed.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "trio"
    max_model_len: int | None = Field(None, description="The model's context, in tokens (as vLLM reports it).")
    capabilities: ServedCapabilities = Field(default_factory=ServedCapabilities)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def served_names(engine: TrioCore) -> set[str]:
    model = engine.config.model
    return {model, Path(model).name, "trio"}


@router.get("/v1/models", response_model=ModelList, tags=["openai"])
async def models(request: Request) -> ModelList:
    host = request.app.state.host
    engine = host.ready_engine()
    kept = ServedCapabilities(media_ids=request.app.state.settings.media_ids_mb > 0)  # none kept: say so
    card = ModelCard(id=engine.config.model, created=int(host.loaded_at or time.time()),
                     max_model_len=engine.model.max_model_len, capabilities=kept)  # fmt: skip
    return ModelList(data=[card])


@router.post("/v1/chat/completions", tags=["openai"])
async def chat_completions(body: ChatRequest, request: Request):
    app = request.app.state
    engine = app.host.ready_engine()
    if body.model not in served_names(engine):
        raise APIError(404, f"The model {body.model!r} is not served here; use {engine.config.model!r}.", param="model",
                       code="model_not_found")  # fmt: skip
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > 4:
        raise APIError(400, "stop: give at most 4 strings.", param="stop")
    schema = body.response_format.schema_to_follow() if body.response_format else None
    if schema is not None:
        try:
            await run_in_threadpool(engine.model.check_json_schema, schema)
        except TrioError as error:
            raise APIError(400, f"response_format: {error}", param="response_format") from None
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true.", param="top_logprobs")
    settings = app.settings.answer_settings(
        top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=tuple(stops),
        json_schema=schema,
    )
    deadline = time.monotonic() + app.settings.request_timeout_s
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    app.host.check_capacity()
    kept = KeptMedia(app.media_ids, caller_of(request.headers.get("authorization")))
    with MediaResolver(app.settings, engine.config.max_pixels) as resolver:  # read before the model's turn, checked
        messages = await run_in_threadpool(
            to_messages, engine, resolver, body.messages, app.settings.request_max_frames, kept
        )
    if body.stream:
        chunks = stream_chunks(request, body, messages, settings, deadline, reply_id, created)
        # The first chunk comes once the model's turn is taken: a full queue is a real 429 with its Retry-After,
        # not an error inside a stream that already said 200.
        first = await chunks.__anext__()
        return StreamingResponse(_after(first, chunks), media_type="text/event-stream")
    result = await answer(app, lambda engine: engine.stream_chat(messages, **settings), deadline)
    message = {"role": "assistant", "content": result.text}
    choice = {"index": 0, "message": message, "finish_reason": result.finish_reason, "logprobs": logprobs(result)}
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": created,
        "model": engine.config.model,
        "choices": [choice],
        "usage": usage(result),
    }


async def stream_chunks(
    request: Request, body: ChatRequest, messages, settings: dict, deadline: float, reply_id, created
):
    """The answer as OpenAI chunks. The model's turn is taken here, before the first chunk: an error in taking it
    (the queue is full) is raised, not streamed."""
    app = request.app.state
    started = False

    def chunk(delta: dict, finish: str | None = None) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return sse({"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                    "choices": choices})  # fmt: skip

    try:
        async with app.host.turn() as engine:
            started = True
            yield chunk({"role": "assistant", "content": ""})
            answer = AnswerStream(engine.stream_chat(messages, **settings), deadline)
            async for delta in answer:
                yield chunk({"content": delta})
        result = answer.result
        app.telemetry.answered(result)
        # The log-probabilities come with the last chunk (the deltas are text, not tokens).
        last = {"index": 0, "delta": {}, "finish_reason": result.finish_reason, "logprobs": logprobs(result)}
        yield sse({"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                   "choices": [last]})  # fmt: skip
        if body.stream_options and body.stream_options.include_usage:
            yield sse({"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                       "choices": [], "usage": usage(result)})  # fmt: skip
    except Exception as error:  # the response has started: the error goes in the stream
        if not started:
            raise
        yield sse(stream_error(error))
    yield "data: [DONE]\n\n"


async def _after(first: str, rest):
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await rest.aclose()  # a client gone midway: the model's turn is given back now, not when collected


def logprobs(result) -> dict | None:
    """OpenAI's ``logprobs`` of a choice: each token's text, log-probability, UTF-8 bytes and alternatives."""
    if result.logprobs is None:
        return None

    def entry(token: str, logprob: float) -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    return {"content": [{**entry(item["token"], item["logprob"]), "top_logprobs": [entry(*top) for top in item["top"]]}
                        for item in result.logprobs]}  # fmt: skip


def usage(result) -> dict:
    prompt, completion = result.metrics.prompt_tokens, result.metrics.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class KeptMedia:
    """One caller's media kept by id (:mod:`.media_ids`), for one request."""

    def __init__(self, store: MediaById, caller: str):
        self.store, self.caller = store, caller

    def part(self, content, read, what: str):
        """The part's media: read (and kept, when it has a uuid), or, given by uuid alone, the kept ones."""
        return self._kept_or_read(getattr(content, content.type), content.uuid, read, what, content.type)

    def frame(self, given: FrameRef, read, what: str):
        """One frame of a ``video`` list, as an image: ``read(url)`` (a Frame, kept under its uuid), or the kept one."""
        part = self._kept_or_read(given.url, given.uuid, lambda url: ImagePart(read(url)), what, "url")
        return part.frame.image

    def _kept_or_read(self, given, media_id: str | None, read, what: str, field: str):
        if given is not None:
            part = read(given)
            if media_id is not None:
                self.store.keep(self.caller, media_id, part)
            return part
        if media_id is None:
            raise APIError(400, f"{what}: give the {field}, or the uuid of media sent before.", param=what)
        part = self.store.get(self.caller, media_id)
        if part is None:
            raise APIError(400, f"{what}: no media with uuid {media_id!r} are kept here (never sent, or dropped): "
                           "send them again with their bytes.", param=what, code="media_not_found")  # fmt: skip
        return part


def to_messages(
    engine: TrioCore, resolver: MediaResolver, chat: list[ChatMessage], most_frames: int, kept: KeptMedia
) -> list[Message]:
    """OpenAI messages as trio messages: media read (and checked) here, in a worker thread."""
    messages = []
    for number, message in enumerate(chat):
        role = "system" if message.role == "developer" else message.role
        content = message.content if message.content is not None else ""
        if isinstance(content, str):
            messages.append(Message(role, [TextPart(content)]))
            continue
        parts = []
        for index, part in enumerate(content):
            what = f"messages[{number}].content[{index}]"
            if isinstance(part, str | TextContent):
                parts.append(TextPart(part if isinstance(part, str) else part.text))
            elif role != "user":
                raise APIError(400, f"{what}: only user messages may carry images or videos.", param=what)
            else:
                read = functools.partial(read_media, engine, resolver, part, kept, what=what, most_frames=most_frames)
                parts.append(kept.part(part, read, what))
        messages.append(Message(role, parts))
    if messages[-1].role == "assistant":
        raise APIError(400, "messages: the last message must be the user's (or the system's).", param="messages")
    return messages


def read_media(engine: TrioCore, resolver: MediaResolver, content, kept: KeptMedia, given, *, what: str,
               most_frames: int):  # fmt: skip
    """The part the media of ``content`` (an image, a video's URL, or its frames: ``given``) make."""
    if isinstance(content, ImageContent):
        return image_part(engine, resolver, given if isinstance(given, str) else given.url, what)
    if isinstance(content, VideoURLContent):
        return video_part(engine, resolver, given if isinstance(given, str) else given.url, what)
    if isinstance(given, str):
        return video_part(engine, resolver, given, what)
    images = []
    for index, item in enumerate(given):
        about = f"{what} frame {index + 1}"
        if isinstance(item, str):
            images.append(resolver.image(item, what=about))
        else:  # decoded (and scaled) now, so that what is kept under its id is ready for the next window
            images.append(kept.frame(item, lambda url, about=about: engine.read_frame(resolver.image(url, what=about))
                                     .frames[0], about))  # fmt: skip
    return frames_part(engine, images, what, most_frames, fps=content.fps)
