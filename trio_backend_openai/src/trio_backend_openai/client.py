"""One endpoint's HTTP: requests, streamed answers, and what each failure means.

Failures fall in three kinds, because each asks for something different of the caller:

- :class:`EndpointDown`: the server cannot answer now (refused, timed out, 5xx, 429/503, an answer
  cut off). Another endpoint may; this one is left out for a while (``retry_after`` when it said).
- :class:`Rejected`: the server answered that this request is wrong *for it* (4xx): media it does not
  take, a media id it no longer has, a setting it refuses. Retrying elsewhere would not help.
- :class:`~trio_core.errors.ConfigError` (through :func:`refused`): a key it refuses, a path that is
  not an OpenAI API: the user must change something.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from httpx_sse import SSEError, connect_sse

from trio_core.credentials import masked
from trio_core.errors import ConfigError


class EndpointDown(Exception):
    """The endpoint cannot answer now; ``retry_after`` is what it asked for (seconds), if it did."""

    def __init__(self, reason: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status  # the HTTP status it answered, None when it did not answer at all
        self.busy = status in (429, 503)  # up but overloaded: worth waiting for, unlike a server that is down


class Rejected(Exception):
    """The server refused this request (4xx) with ``message``; ``status`` and ``code`` as it gave them."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    @property
    def media_missing(self) -> bool:
        """Whether the server no longer has a media item sent by id only (its cache dropped it)."""
        text = self.message.lower()
        # vLLM: "Cache miss for image at index 0 but data is not provided."; trio: code media_not_found.
        return self.code == "media_not_found" or "cache miss" in text


@dataclass
class Chunk:
    """What one streamed chunk (or a whole reply) said: text, log-probabilities, the end, the usage."""

    text: str = ""
    logprobs: list | None = None
    finish_reason: str | None = None
    usage: dict | None = None


class Connection:
    """An httpx client for one endpoint, with its key; every call maps failures to the kinds above."""

    def __init__(self, base_url: str, api_key: str | None, *, connect_timeout_s: float, read_timeout_s: float):
        self.base_url = base_url.rstrip("/")
        self.label = masked(self.base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        # Plain httpx.Client: one pool of keep-alive connections per endpoint, shared by the request threads.
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def get_json(self, path: str) -> dict:
        try:
            response = self.http.get(path)
        except httpx.HTTPError as error:
            raise EndpointDown(self.why(error)) from None
        self.check(response)
        return self.json_of(response)

    def post_json(self, path: str, body: dict) -> tuple[dict, int]:
        """A whole (non-streamed) reply, and the request's size in bytes."""
        payload = json.dumps(body).encode()
        try:
            response = self.http.post(path, content=payload, headers={"Content-Type": "application/json"})
        except httpx.HTTPError as error:
            raise EndpointDown(self.why(error)) from None
        self.check(response)
        return self.json_of(response), len(payload)

    def stream(self, path: str, body: dict, sent: list[int]) -> Iterator[Chunk]:
        """The chunks of a streamed answer, until the server's ``[DONE]``; the request's size goes in ``sent``.

        A stream that ends without ``[DONE]`` or a finish reason is an answer cut off: :class:`EndpointDown`.
        """
        payload = json.dumps(body).encode()
        sent.append(len(payload))
        finished = ended = False  # a finish reason came; the server's [DONE] came
        try:
            with connect_sse(
                self.http, "POST", path, content=payload, headers={"Content-Type": "application/json"}
            ) as events:
                self.check(events.response)
                for event in events.iter_sse():
                    if ended or event.data.strip() == "[DONE]":
                        ended = True
                        continue  # read to the body's end: a response left unread costs its connection
                    data = self.parse(event.data)
                    if "error" in data:  # a failure after the response started: the server says so in the stream
                        raise self.failure(data, self.status_in(data))
                    chunk = chunk_of(data)
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
        except SSEError:
            raise EndpointDown(f"{self.label} did not answer with an event stream") from None
        except httpx.HTTPError as error:
            raise EndpointDown(self.why(error)) from None
        if not (ended or finished):
            raise EndpointDown(f"{self.label} closed the answer before its end")

    # Failures ---------------------------------------------------------------------------

    def why(self, error: httpx.HTTPError) -> str:
        """One phrase for a transport failure, naming the endpoint (masked)."""
        if isinstance(error, httpx.ConnectError):
            text = str(error).lower()
            if "refused" in text:
                return f"nothing is listening at {self.label} (connection refused)"
            if "name" in text or "resolve" in text or "nodename" in text:
                return f"the host of {self.label} does not resolve"
            return f"{self.label} could not be reached ({masked(str(error)) or 'connect error'})"
        if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
            return f"{self.label} did not accept a connection in time"
        if isinstance(error, httpx.ReadTimeout):
            return f"{self.label} sent nothing for {self.http.timeout.read:g} s"
        if isinstance(error, httpx.RemoteProtocolError):
            return f"{self.label} closed the connection mid-answer"
        return f"{self.label} failed: {masked(str(error)) or type(error).__name__}"

    def check(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        response.read()
        body = self.parse(response.text)
        raise self.failure(body, response.status_code, retry_after=retry_after(response.headers.get("retry-after")))

    def failure(self, body: dict, status: int, *, retry_after: float | None = None):
        message, code = error_of(body)
        message = masked(message)[:500]
        where = f"{self.label} answered {status}" + (f": {message}" if message else "")
        if status in (401, 403):
            return ConfigError(f"{where}; check --api-key (TRIO_API_KEY).")
        if status == 429 or status >= 500 or status == 408:
            return EndpointDown(where, retry_after=retry_after, status=status)
        if status == 404 and code not in ("model_not_found",) and "model" not in message.lower():
            return ConfigError(f"{where}; is {self.label} the API's base URL (it usually ends in /v1)?")
        return Rejected(status, message, code)

    @staticmethod
    def status_in(data: dict) -> int:
        """The status an error sent inside a stream stands for: its numeric ``code`` (vLLM, llama.cpp), else its
        ``type`` (trio, OpenAI), else 500."""
        error = data.get("error")
        if not isinstance(error, dict):
            return 500
        code = error.get("code")
        if isinstance(code, int) and 400 <= code < 600:
            return code
        return STATUS_OF_TYPE.get(str(error.get("type")), 500)

    @staticmethod
    def parse(text: str) -> dict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return {"error": {"message": text.strip()[:200]}}
        return value if isinstance(value, dict) else {"error": {"message": str(value)[:200]}}

    def json_of(self, response: httpx.Response) -> dict:
        try:
            value = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(
                f"{self.label} did not answer with JSON: is it an OpenAI-compatible API's base URL (…/v1)?"
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{self.label} answered with something other than a JSON object.")
        return value


# OpenAI's error types (trio's too) and vLLM's exception names, as the statuses they go with.
STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "BadRequestError": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "NotFoundError": 404,
    "rate_limit_error": 429,
    "service_unavailable": 503,
    "timeout_error": 504,
}


def error_of(body: dict) -> tuple[str, str | None]:
    """The message and code of an error body, in the layouts servers use: OpenAI's ``{"error": {...}}``
    (vLLM, SGLang, llama.cpp, trio), vLLM's older top-level ``{"object": "error", "message": ...}``, Ollama's
    ``{"error": "..."}``."""
    error = body.get("error", body)
    if isinstance(error, str):
        return error, None
    if not isinstance(error, dict):
        return str(error), None
    code = error.get("code")
    return str(error.get("message") or error.get("detail") or ""), code if isinstance(code, str) else None


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def chunk_of(data: dict) -> Chunk:
    """A chat-completion chunk (``delta``) or a whole reply (``message``) as a :class:`Chunk`."""
    chunk = Chunk(usage=data.get("usage") if isinstance(data.get("usage"), dict) else None)
    choices = data.get("choices") or []
    if choices and isinstance(choices[0], dict):
        choice = choices[0]
        part = choice.get("delta") or choice.get("message") or {}
        chunk.text = part.get("content") or "" if isinstance(part, dict) else ""
        chunk.finish_reason = choice.get("finish_reason")
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            chunk.logprobs = logprobs["content"]
    return chunk
