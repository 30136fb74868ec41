"""What a server accepts, found on first contact: from its ``/v1/models`` card where it says (trio does), else
from a probe of a few one-token requests (vLLM, SGLang, llama.cpp and Ollama say nothing of media there)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import numpy as np

from trio_core.errors import ModelLoadError
from trio_core.frames import Frame

from .client import Connection, EndpointDown, Rejected, chunk_of
from .media import EncodedMedia

# Who runs the server, from the ``owned_by`` of its model card: for messages and `trio doctor` only.
SERVERS = {"vllm": "vLLM", "sglang": "SGLang", "llamacpp": "llama.cpp", "trio": "trio", "library": "Ollama"}
VIDEO_MODES = ("video_url", "frames", "images")


@dataclass
class Capabilities:
    """What one server does with the model trio asked for."""

    server: str  # vLLM, SGLang, llama.cpp, Ollama, trio, or the card's owned_by
    video: str  # how a clip goes: video_url, frames (trio's list of images), images (one image_url per frame)
    media_ids: bool  # media may be sent by id once the server has them (vLLM's uuid, trio)
    logprobs: bool  # answers come with top_logprobs: yes/no has a probability
    max_model_len: int | None = None
    found_by: str = "probe"  # "model card" when the server said it itself

    @property
    def yes_no(self) -> str:
        """Where a yes/no answer's probability comes from, in words."""
        return "first-token logprobs" if self.logprobs else "the answer's text (the server returns no logprobs)"

    def describe(self) -> dict:
        return {**asdict(self), "yes_no": self.yes_no}


def model_card(connection: Connection, model: str) -> dict:
    """The server's card for ``model``; a model it does not serve is a :class:`ModelLoadError` naming those it does."""
    try:
        listing = connection.get_json("/models")
    except Rejected as refused:  # a 4xx for the listing itself: not an OpenAI API, or not this one's way
        raise ModelLoadError(
            f"{connection.label} refused to list its models ({refused.status}: {refused.message or 'no reason'}): "
            "is it an OpenAI-compatible API's base URL (…/v1)?"
        ) from None
    cards = [card for card in listing.get("data") or [] if isinstance(card, dict) and card.get("id")]
    for card in cards:
        if card["id"] == model:
            return card
    served = ", ".join(str(card["id"]) for card in cards) or "none"
    suggestion = f": pass --model {cards[0]['id']}" if len(cards) == 1 else ""
    raise ModelLoadError(f"{connection.label} does not serve the model '{model}' (it serves: {served}){suggestion}.")


def discover(connection: Connection, model: str, *, media: str, media_ids: str, probe: bool) -> Capabilities:
    """What the server accepts for ``model``: its card's word, else a probe; then the user's choices on top."""
    card = model_card(connection, model)
    owner = str(card.get("owned_by") or "unknown")
    stated = card.get("capabilities")
    if isinstance(stated, dict) and isinstance(stated.get("media"), list):  # trio's own card says
        kinds = stated["media"]
        video = "video_url" if "video_url" in kinds else "frames" if "video" in kinds else "images"
        if stated.get("video") in VIDEO_MODES and (stated["video"] == "images" or _part(stated["video"]) in kinds):
            video = stated["video"]  # the server's own preference, among what it takes
        found = Capabilities(SERVERS.get(owner, owner), video, bool(stated.get("media_ids")),
                             bool(stated.get("logprobs")), card.get("max_model_len"), "model card")  # fmt: skip
    elif probe:
        found = Probe(connection, model).run(owner, card.get("max_model_len"), try_ids=media_ids != "off")
    else:  # told not to probe: what every OpenAI-compatible vision server takes, and nothing more
        found = Capabilities(SERVERS.get(owner, owner), "images", False, False, card.get("max_model_len"), "assumed")
    if media != "auto":
        found.video = media
    if media_ids == "off":
        found.media_ids = False
    elif media_ids == "on":
        found.media_ids = True
    return found


class Probe:
    """One-token questions about a tiny clip and picture: which media the server takes, and what comes back."""

    def __init__(self, connection: Connection, model: str):
        self.connection, self.model = connection, model
        rng = np.random.default_rng(7)  # noise: no server's cache has seen these pixels before
        salt = uuid.uuid4().int % 255
        self.frames = tuple(
            Frame((rng.integers(0, 255, (56, 56, 3)) ^ salt).astype(np.uint8), timestamp=i / 2, index=i)
            for i in range(2)
        )
        self.media = EncodedMedia(quality=90)

    def ask(self, part: dict, *, logprobs: bool = True) -> dict:
        body = {"model": self.model, "max_tokens": 1, "temperature": 0, "stream": False,
                "messages": [{"role": "user", "content": [part, {"type": "text", "text": "Answer yes or no."}]}]}  # fmt: skip
        if logprobs:
            body |= {"logprobs": True, "top_logprobs": 5}
        reply, _ = self.connection.post_json("/chat/completions", body)
        return reply

    def accepted(self, part: dict, *, logprobs: bool = True, errors_refuse: bool = False) -> dict | None:
        """The reply, or None when the server refused ``part`` (with ``errors_refuse``, also when it failed on it
        with a 5xx: llama-server answers media it cannot read with a 500)."""
        try:
            return self.ask(part, logprobs=logprobs)
        except Rejected:
            return None
        except EndpointDown as down:
            if errors_refuse and down.status is not None and down.status >= 500 and not down.busy:
                return None
            raise

    def run(self, owner: str, max_model_len: int | None, *, try_ids: bool) -> Capabilities:
        server = SERVERS.get(owner, owner)
        key, video = self.media.video(self.frames, 2.0)
        _, image = self.media.image(self.frames[0])
        video_part = {"type": "video_url", "video_url": {"url": video}}
        image_part = {"type": "image_url", "image_url": {"url": image}}
        reply, kind = self.accepted(video_part, errors_refuse=True), "video_url"
        if reply is None:
            reply, kind = self.accepted(image_part), "images"
        if reply is None:  # perhaps the logprobs, not the picture
            reply = self.accepted(image_part, logprobs=False)
            if reply is None:
                try:
                    self.ask(image_part, logprobs=False)
                except Rejected as error:
                    raise ModelLoadError(
                        f"{self.connection.label} serves '{self.model}' but refuses images ({error.message}): serve a "
                        "vision model with its image support on (llama-server needs --mmproj)."
                    ) from None
        logprobs = bool(chunk_of(reply).logprobs)
        part = video_part if kind == "video_url" else image_part
        ids = try_ids and self.takes_ids(part, kind, key)
        return Capabilities(server, kind, ids, logprobs, max_model_len, "probe")

    def takes_ids(self, part: dict, kind: str, key: str) -> bool:
        """Whether the server answers a part sent by its uuid alone, after it was sent once with its bytes."""
        field = "video_url" if kind == "video_url" else "image_url"
        key = f"{key}-{uuid.uuid4().hex[:8]}"
        try:
            if self.accepted({**part, "uuid": key}, logprobs=False) is None:
                return False
            return self.accepted({"type": part["type"], field: None, "uuid": key}, logprobs=False) is not None
        except EndpointDown:  # a server that trips over a part without data (a 500): it takes no ids
            return False


def _part(video: str) -> str:
    """The content part type a way of sending a clip uses."""
    return {"frames": "video", "video_url": "video_url"}.get(video, "image_url")
