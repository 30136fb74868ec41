"""Loopback stand-ins for servers that cannot run here (vLLM, llama.cpp's llama-server, Ollama): no model, canned
answers, but each server's own response shapes and error bodies, as their documentation and source give them.

What each style does, and where it comes from:

- ``vllm``: ``/v1/models`` cards with ``owned_by: "vllm"`` and ``max_model_len``; takes ``image_url`` and
  ``video_url``; media parts may carry a ``uuid`` and, once sent, be sent by it alone (``"image_url": null``);
  an id it does not have is a 400 ``{"error": {"message": "Cache miss for image at index 0 but data is not
  provided.", "type": "BadRequestError", "param": null, "code": 400}}`` (vLLM >= 0.10.2,
  docs/features/multimodal_inputs.md, vllm/multimodal/processing); an unknown model is a 404 ``The model `x`
  does not exist.``; streamed chunks carry their tokens' ``logprobs.content``; the last chunk, with
  ``stream_options.include_usage``, has ``"choices": []`` and the usage.
- ``llamacpp``: ``owned_by: "llamacpp"``; images only: any other part type is a 400 ``{"error": {"code": 400,
  "message": "unsupported content[].type", "type": "invalid_request_error"}}`` (tools/server/utils.hpp);
  logprobs entries with an extra ``id``.
- ``ollama``: ``owned_by: "library"``; images only; no logprobs (before v0.12.11); an unknown model is a 404
  ``{"error": {"message": "model 'x' not found", "type": "not_found_error", "param": null, "code": null}}``.

Faults can be switched on for the next requests: ``status`` (with ``retry_after``), ``cut`` (close the stream
after some chunks), ``forget`` (drop every media id it has).
"""

from __future__ import annotations

import base64
import json
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from trio_core.testing import free_port

ANSWER = "yes, there is"
# The first token's alternatives: P(yes) = e^-0.2 + e^-2.3 (two spellings), P(no) = e^-1.9.
FIRST_TOKEN = {"token": "yes", "logprob": -0.2,
               "top_logprobs": [{"token": "yes", "logprob": -0.2}, {"token": "Yes", "logprob": -2.3},
                                {"token": "no", "logprob": -1.9}, {"token": "maybe", "logprob": -4.0}]}  # fmt: skip


class StubServer:
    """One stand-in server on a free loopback port; ``requests`` holds every chat request it got."""

    def __init__(self, style: str, model: str = "served-model"):
        self.style, self.model = style, model
        self.requests: list[dict] = []
        self.sizes: list[int] = []
        self.ports: list[int] = []  # the client's port of each request: one connection kept alive keeps its port
        self.media: set[str] = set()
        self.faults: dict = {}
        self.in_flight = self.most_in_flight = 0  # answers being streamed now, and the most at once
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.app = self._app()

    # Faults -----------------------------------------------------------------------------

    def fail_next(self, count: int, status: int, retry_after: str | None = None) -> None:
        self.faults["status"] = (count, status, retry_after)

    def cut_next(self, count: int) -> None:
        self.faults["cut"] = count

    def forget(self) -> None:
        self.media.clear()

    # The app ----------------------------------------------------------------------------

    def _error(self, status: int, message: str, kind: str, headers=None) -> JSONResponse:
        if self.style == "vllm":
            body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
        elif self.style == "llamacpp":
            body = {"error": {"code": status, "message": message, "type": kind}}
        else:
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=status, headers=headers)

    def _app(self) -> FastAPI:
        app = FastAPI()
        owner = {"vllm": "vllm", "llamacpp": "llamacpp", "ollama": "library"}[self.style]

        @app.get("/v1/models")
        def models():
            count, status, retry_after = self.faults.get("status", (0, 0, None))
            if count:  # a server still loading its model answers its listing 503 too
                self.faults["status"] = (count - 1, status, retry_after)
                headers = {"Retry-After": retry_after} if retry_after else None
                return self._error(status, "The model is not loaded (loading).", "ServiceUnavailableError", headers)
            card = {"id": self.model, "object": "model", "created": 1, "owned_by": owner}
            if self.style == "vllm":
                card |= {"root": self.model, "parent": None, "max_model_len": 32768, "permission": []}
            return {"object": "list", "data": [card]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            raw = await request.body()
            body = json.loads(raw)
            self.requests.append(body)
            self.sizes.append(len(raw))
            self.ports.append(request.client.port)
            count, status, retry_after = self.faults.get("status", (0, 0, None))
            if count:
                self.faults["status"] = (count - 1, status, retry_after)
                headers = {"Retry-After": retry_after} if retry_after else None
                return self._error(status, "The server is overloaded.", "ServiceUnavailableError", headers)
            if body.get("model") != self.model:
                if self.style == "vllm":
                    return self._error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
                return self._error(404, f"model '{body.get('model')}' not found", "not_found_error")
            problem = self._media_problem(body)
            if problem is not None:
                return problem
            if not body.get("stream"):
                return {"id": "x", "object": "chat.completion", "model": self.model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"},
                                     "finish_reason": "length", **self._logprobs(body, [FIRST_TOKEN])}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}  # fmt: skip
            return StreamingResponse(self._chunks(body), media_type="text/event-stream")

        return app

    def _media_problem(self, body: dict) -> JSONResponse | None:
        images = 0
        for message in body["messages"]:
            content = message.get("content")
            for part in content if isinstance(content, list) else []:
                kind = part.get("type")
                if kind == "text":
                    continue
                if self.style != "vllm" and kind != "image_url":
                    if self.style == "llamacpp":
                        return self._error(400, "unsupported content[].type", "invalid_request_error")
                    return self._error(400, f"invalid content type: {kind}", "invalid_request_error")
                data, key = part.get(kind), part.get("uuid") if self.style == "vllm" else None
                if data is None:
                    if key is None or key not in self.media:
                        what = "image" if kind == "image_url" else "video"
                        return self._error(400, f"Cache miss for {what} at index {images} but data is not "
                                           "provided.", "BadRequestError")  # fmt: skip
                else:
                    url = data["url"] if isinstance(data, dict) else data
                    base64.b64decode(url.partition(",")[2], validate=True)  # a real data URL, or this fails
                    if key is not None:
                        self.media.add(key)
                images += 1
        return None

    def _logprobs(self, body: dict, entries: list[dict]) -> dict:
        if self.style == "ollama" or not body.get("logprobs"):
            return {}
        if self.style == "llamacpp":
            entries = [{"id": 1, **entry} for entry in entries]
        return {"logprobs": {"content": entries}}

    def _chunks(self, body: dict):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield from self._words(body)
        finally:
            self.in_flight -= 1

    def _words(self, body: dict):
        words = ["yes", ",", " there", " is"]
        cut = self.faults.get("cut", 0)
        for index, word in enumerate(words):
            if cut and index == 2:
                self.faults["cut"] = cut - 1
                return  # the connection ends mid-answer: no finish reason, no [DONE]
            entry = FIRST_TOKEN if index == 0 else {"token": word, "logprob": -0.01, "top_logprobs": []}
            choice = {"index": 0, "delta": {"content": word}, "finish_reason": None, **self._logprobs(body, [entry])}
            yield f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"
            time.sleep(0.05)
        last = {"index": 0, "delta": {}, "finish_reason": "stop"}
        yield f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'choices': [last]})}\n\n"
        usage = {"prompt_tokens": 42, "completion_tokens": len(words), "total_tokens": 42 + len(words)}
        yield f"data: {json.dumps({'id': 'x', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    # Running ----------------------------------------------------------------------------

    def __enter__(self) -> StubServer:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
