"""A model that lives on OpenAI-compatible servers: conversations out as chat requests, answers back streamed.

Each request goes to the healthy endpoint its key (a watch's id) prefers (:mod:`.pool`), waits
there for one of the endpoint's slots, and is sent with its media as that server takes them
(:mod:`.capabilities`). A server that fails is left out and the request goes to the next; one
that refuses a video gets the frames as images from then on; one that lost a media id sent
alone gets the bytes again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

from trio_core.backends import GenerationSettings, GenerationStats, LoadedModel, PreparedPrompt, TokenLogprob, route_key
from trio_core.chat import ImagePart, Message, TextPart, VideoPart
from trio_core.chat_templates import media_frames
from trio_core.errors import BackendUnavailableError, ConfigError

from .capabilities import discover
from .client import EndpointDown, Rejected
from .media import EncodedMedia
from .pool import Endpoint, EndpointPool, SlotsBusy
from .settings import RemoteSettings

log = logging.getLogger("trio.openai")

# Enough alternatives for the first token to hold yes and no in their spellings (yes, Yes, " yes", ...);
# vLLM's default cap on top_logprobs is 20.
YES_NO_ALTERNATIVES = 20
YES_NO_WORDS = {"yes": True, "no": False}


class RemoteModel(LoadedModel):
    """``config.model`` as the endpoints serve it."""

    backend = "openai"
    device = "remote"
    dtype = "server's"
    request_hooks = None  # optimizers act inside a local model: none here
    concurrent = True  # requests go to the servers at once, bounded by each endpoint's slots
    raw_library = None

    def __init__(self, pool: EndpointPool, family, name: str, settings: RemoteSettings):
        self.pool, self.family, self.name, self.settings = pool, family, name, settings
        self.model_dir = Path(name)
        self.media = EncodedMedia(settings.jpeg_quality)
        self.max_in_flight = settings.max_concurrency * len(pool.endpoints)  # what the slots let out at once
        known = [
            e.capabilities.max_model_len for e in pool.endpoints if e.capabilities and e.capabilities.max_model_len
        ]
        self.max_model_len = min(known) if known else None

    # Prompts ----------------------------------------------------------------------------

    def prepare(self, messages: list[Message]) -> PreparedPrompt:
        """The conversation as it is; its media are encoded now (so preprocessing counts it) for the server the
        request will most likely go to, and kept for any other."""
        frames = media_frames(messages)
        preferred = next((e for e in self.pool.ranked(route_key.get(), take_turn=False) if e.capabilities), None)
        if preferred is not None:
            for message in messages:
                for part in message.parts:
                    self._encoded(part, preferred.capabilities.video)
        return PreparedPrompt(inputs=messages, prompt_tokens=0, visual_tokens=0, frames=frames)

    def _encoded(self, part, video: str) -> list[tuple[str, str, str]]:
        """``part``'s media as ``(content type, media id, data URL)`` items, a clip sent as ``video`` says."""
        if isinstance(part, ImagePart):
            return [("image_url", *self.media.image(part.frame))]
        if isinstance(part, VideoPart):
            if video == "video_url":
                return [("video_url", *self.media.video(part.frames, part.fps))]
            return [("image_url", *self.media.image(frame)) for frame in part.frames]
        return []

    def body(
        self, messages: list[Message], settings: GenerationSettings, endpoint: Endpoint, *, by_id: bool, video: str
    ):
        """The chat request for ``endpoint`` with its clips sent as ``video`` says, and the media ids sent with
        their bytes."""
        capabilities = endpoint.capabilities
        sent_bytes: list[str] = []
        chat = []
        for message in messages:
            if all(isinstance(part, TextPart) for part in message.parts):
                chat.append({"role": message.role, "content": message.text})
                continue
            content = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
                    continue
                items = self._encoded(part, video)
                if isinstance(part, VideoPart) and video == "frames":  # trio's list of images, each by id
                    listed = [self._frame(key, url, endpoint, by_id, sent_bytes) for _, key, url in items]
                    content.append({"type": "video", "video": listed, "fps": part.fps})
                    continue
                for kind, key, url in items:
                    content.append(self._media({"type": kind, kind: {"url": url}}, key, endpoint, by_id, sent_bytes,
                                               field=kind))  # fmt: skip
            chat.append({"role": message.role, "content": content})
        body = {
            "model": self.name,
            "messages": chat,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if settings.temperature > 0 and settings.top_p < 1:
            body["top_p"] = settings.top_p
        if settings.seed is not None:
            body["seed"] = settings.seed
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer",
                                                                               "schema": settings.json_schema}}  # fmt: skip
        alternatives = max(settings.top_logprobs or 0, YES_NO_ALTERNATIVES if settings.yes_no else 0)
        if capabilities.logprobs and (settings.yes_no or settings.top_logprobs is not None):
            body |= {"logprobs": True, "top_logprobs": alternatives}
        return body, sent_bytes

    @staticmethod
    def _frame(key: str, url: str, endpoint: Endpoint, by_id: bool, sent_bytes: list[str]):
        """One frame of a list: its URL, or (the server took ids) ``{url, uuid}``, or its uuid alone once sent: a
        sliding window sends each frame's bytes once."""
        if not endpoint.capabilities.media_ids:
            return url
        if by_id and endpoint.has_media(key):
            return {"url": None, "uuid": key}
        sent_bytes.append(key)
        return {"url": url, "uuid": key}

    @staticmethod
    def _media(part: dict, media_id: str, endpoint: Endpoint, by_id: bool, sent_bytes: list[str], *, field: str):
        """A media part with its bytes, or (the server has them) its id alone; ids ride along where taken."""
        if not endpoint.capabilities.media_ids:
            return part
        if by_id and endpoint.has_media(media_id):
            return {"type": part["type"], field: None, "uuid": media_id}
        sent_bytes.append(media_id)
        return {**part, "uuid": media_id}

    # Answers ----------------------------------------------------------------------------

    def generate(self, prompt: PreparedPrompt, settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        yield from self._answer(prompt.inputs, settings, stats, route_key.get(), buffered=False)

    def generate_each(
        self, prompts: list[PreparedPrompt], settings: GenerationSettings, stats: list[GenerationStats]
    ) -> list[str]:
        """The prompts' answers, sent at once (the server batches them); with media ids, the first goes alone so
        that the others find its media on the server and send their ids only."""
        key = route_key.get()

        def one(index: int) -> str:
            return "".join(self._answer(prompts[index].inputs, settings, stats[index], key, buffered=True))

        answers = {}
        rest = list(range(len(prompts)))
        if len(prompts) > 1 and any(e.capabilities and e.capabilities.media_ids for e in self.pool.endpoints):
            answers[0] = one(rest.pop(0))
        if rest:
            with concurrent.futures.ThreadPoolExecutor(min(len(rest), 16), thread_name_prefix="trio-openai") as run:
                answers.update(zip(rest, run.map(one, rest), strict=True))
        return [answers[index] for index in range(len(prompts))]

    def _answer(self, messages, settings, stats: GenerationStats, key: str | None, *, buffered: bool):
        """The answer from the first endpoint that gives one, best first for ``key``, within ``queue_timeout_s``.

        ``buffered`` (the caller shows nothing before the end): an answer cut off midway is asked again
        elsewhere; otherwise the text already shown cannot be taken back, and the cut is an error.
        """
        deadline = time.monotonic() + self.settings.queue_timeout_s
        last_problem: str | None = None
        while True:  # each round: the endpoints healthy now, best first; candidates() ends it when none is
            if last_problem is not None and time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"No endpoint answered within openai.queue_timeout_s ({self.settings.queue_timeout_s:g} s): "
                    f"{last_problem}."
                )
            for endpoint in self.pool.candidates(key, wait_until=deadline):
                shown: list[bool] = []  # set once part of the answer went to the caller
                try:
                    answer = self._on(endpoint, messages, settings, stats, deadline, shown)
                    if buffered:
                        text = "".join(answer)
                        yield text
                    else:
                        yield from answer
                    endpoint.answered()
                    return
                except EndpointDown as down:
                    delay = endpoint.left_out(str(down), down.retry_after, busy=down.busy)
                    log.warning("%s; left out for %.1f s", down, delay)
                    last_problem = str(down)
                    if shown and not buffered:
                        raise BackendUnavailableError(
                            f"{down}, after part of the answer was shown: ask again."
                        ) from None
                except SlotsBusy as busy:  # this endpoint is full here: the next one may have room
                    last_problem = str(busy)

    def _on(self, endpoint: Endpoint, messages, settings, stats: GenerationStats, deadline: float, shown: list):
        """One endpoint's answer, streamed; media fallbacks and id misses are handled here, on the same server,
        as long as nothing of the answer was shown."""
        self._contact(endpoint)
        with endpoint.slot(timeout=max(0.0, deadline - time.monotonic())):
            by_id, video, refused = True, endpoint.capabilities.video, None
            for _ in range(4):  # a resend after an id miss, then the frames as images: never more
                body, with_bytes = self.body(messages, settings, endpoint, by_id=by_id, video=video)
                try:
                    for delta in self._stream(endpoint, body, settings, stats):
                        shown.append(True)
                        yield delta
                except Rejected as rejected:
                    if shown:  # refused midway: what was shown cannot be asked again
                        raise ConfigError(f"{endpoint.label} refused the answer midway ({rejected.status}): "
                                          f"{rejected.message or 'no reason given'}.") from None  # fmt: skip
                    if rejected.media_missing and by_id:
                        log.info("%s no longer has media sent before; sending their bytes", endpoint.label)
                        by_id = False
                        continue
                    if refused is None and video != "images" and _has_video(messages):
                        # Perhaps the video: the same request with the frames as images, once, tells.
                        refused, video = rejected, "images"
                        continue
                    raise ConfigError(f"{endpoint.label} refused the request ({(refused or rejected).status}): "
                                      f"{(refused or rejected).message or 'no reason given'}.") from None  # fmt: skip
                if refused is not None:
                    log.warning("%s refused a video as %s (%s) and took its frames as images: sending images from "
                                "now on", endpoint.label, endpoint.capabilities.video, refused.message)  # fmt: skip
                    endpoint.capabilities.video = "images"
                for media_id in with_bytes:
                    endpoint.noted_media(media_id)
                return
            raise ConfigError(f"{endpoint.label} refused every way of sending this request's media.")

    def _contact(self, endpoint: Endpoint) -> None:
        """What the endpoint accepts, asked on first contact (again after it was down at load)."""
        if endpoint.capabilities is None:
            endpoint.capabilities = discover(endpoint.connection, self.name, media=self.settings.media,
                                             media_ids=self.settings.media_ids, probe=self.settings.probe)  # fmt: skip

    def _stream(self, endpoint: Endpoint, body: dict, settings: GenerationSettings, stats: GenerationStats):
        started = time.perf_counter()
        first = last = None
        pieces = 0
        entries: list[dict] = []
        usage, finish = None, None
        sent: list[int] = []
        for chunk in endpoint.connection.stream("/chat/completions", body, sent):
            if chunk.text:
                last = time.perf_counter()
                first = first or last
                pieces += 1
                yield chunk.text
            entries += chunk.logprobs or []
            usage = chunk.usage or usage
            finish = chunk.finish_reason or finish
        # The answer is whole: its numbers, measured here (time to first token, decode) and told by the server.
        first = first or time.perf_counter()
        stats.prefill_ms = (first - started) * 1000
        stats.decode_ms = ((last or first) - first) * 1000
        stats.prompt_tokens = int((usage or {}).get("prompt_tokens") or 0)
        stats.completion_tokens = int((usage or {}).get("completion_tokens") or pieces)
        stats.finish_reason = finish or "stop"
        stats.sent_bytes, stats.endpoint = sum(sent), endpoint.label
        if settings.yes_no and entries:
            stats.yes_probability, stats.yes_no_mass = yes_no(entries[0])
        if settings.top_logprobs is not None:
            stats.logprobs = [token_logprob(entry, settings.top_logprobs) for entry in entries]

    def check_json_schema(self, schema: dict) -> None:
        """The server constrains the answer (vLLM, SGLang, llama.cpp, trio do); it refuses a schema it cannot."""
        if not isinstance(schema, dict):
            raise ConfigError("A JSON schema must be a JSON object.")

    def close(self) -> None:
        self.pool.close()

    def endpoints_report(self) -> list[dict]:
        return [endpoint.describe() for endpoint in self.pool.endpoints]


def yes_no(entry: dict) -> tuple[float | None, float]:
    """``(P(yes) / (P(yes) + P(no)), P(yes) + P(no))`` from the first answer token's alternatives, every spelling
    of each word summed (as the local backends sum their token ids)."""
    alternatives = {item.get("token"): item.get("logprob") for item in entry.get("top_logprobs") or []}
    alternatives.setdefault(entry.get("token"), entry.get("logprob"))
    mass = {True: 0.0, False: 0.0}
    for token, logprob in alternatives.items():
        word = YES_NO_WORDS.get(str(token).strip().lower())
        if word is not None and isinstance(logprob, int | float):
            mass[word] += math.exp(logprob)
    total = mass[True] + mass[False]
    return (mass[True] / total if total > 0 else None), total


def token_logprob(entry: dict, top: int) -> TokenLogprob:
    alternatives = [(str(item.get("token")), float(item.get("logprob"))) for item in entry.get("top_logprobs") or []]
    return TokenLogprob(str(entry.get("token")), float(entry.get("logprob") or 0.0), alternatives[:top])


def _has_video(messages: list[Message]) -> bool:
    return any(isinstance(part, VideoPart) for message in messages for part in message.parts)
