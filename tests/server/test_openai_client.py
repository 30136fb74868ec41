"""A real `trio serve` (uvicorn, loopback) exercised with the official OpenAI client."""

import openai
import pytest

from tests.server.conftest import data_url, running_server

KEY = "test-key-123"


@pytest.fixture(scope="module")
def server():
    with running_server("--model", "trio-tiny", "--max-tokens", "8", "--api-key", KEY) as (url, process):
        yield url, process


@pytest.fixture
def client(server):
    url, _ = server
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)


def image_message(question, url=None):
    return {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": url or data_url()}}, {"type": "text", "text": question}],
    }


def test_models_lists_the_served_model(client):
    assert [model.id for model in client.models.list().data] == ["trio-tiny"]


def test_a_question_about_an_image(client):
    reply = client.chat.completions.create(model="trio-tiny", messages=[image_message("Is there a red circle?")])
    assert reply.choices[0].message.content == "yes"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 100 and reply.usage.completion_tokens >= 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_gives_openai_chunks_and_usage(client):
    stream = client.chat.completions.create(
        model="trio-tiny",
        messages=[image_message("Is there a red circle?")],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "yes"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1


def test_multi_turn_with_a_system_prompt(client):
    messages = [
        {"role": "system", "content": "Answer in one word."},
        image_message("Is there a red circle?"),
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "Is there a purple triangle?"},
    ]
    reply = client.chat.completions.create(model="trio-tiny", messages=messages, seed=1)
    assert reply.choices[0].message.content  # answers; the image from the first turn is in context


def test_the_token_limit_ends_with_length(client):
    reply = client.chat.completions.create(
        model="trio-tiny", messages=[image_message("Describe the picture.")], max_completion_tokens=1
    )
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 1


def test_client_mistakes_are_openai_errors(client, server):
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="not an image"):
        client.chat.completions.create(model="trio-tiny", messages=[image_message("?", "data:image/png;base64,AAAA")])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server[0] + "/v1", api_key="wrong", max_retries=0).models.list()
    assert server[1].poll() is None  # still serving


# Frigate's OpenAI provider (frigate/genai/openai.py), as it calls an OpenAI-compatible server: the prompt, then
# every frame as a JPEG data URL with "detail": "low"; a strict json_schema (it sets additionalProperties false);
# the context size from max_model_len in /v1/models; reasoning_content only when content is empty.
FRIGATE_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}


def jpeg_b64() -> str:
    import base64
    import io

    from PIL import Image

    from tests.server.conftest import DEMO

    buffer = io.BytesIO()
    Image.open(DEMO / "shapes.png").convert("RGB").save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def frigate_request(client, response_format=None, frames=2):
    content = [{"type": "text", "text": "Is there a red circle? Answer as JSON."}]
    for image in [jpeg_b64()] * frames:
        content.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}", "detail": "low"}})
    # max_tokens as Frigate's runtime_options pass it: this server's default (8) is too short for the JSON.
    params = {"model": "trio-tiny", "messages": [{"role": "user", "content": content}], "timeout": 60, "max_tokens": 64}
    if response_format:
        params["response_format"] = response_format
    return client.chat.completions.create(**params)


def test_frigate_reads_the_context_size_from_max_model_len(client):
    (model,) = client.models.list().data
    assert model.id == "trio-tiny" and model.max_model_len == 4096


def test_a_frigate_request_with_a_strict_json_schema_always_parses_against_it(client):
    import json

    import jsonschema

    response_format = {"type": "json_schema", "json_schema": {"name": "review", "strict": True,
                                                              "schema": FRIGATE_SCHEMA}}  # fmt: skip
    reply = frigate_request(client.with_options(max_retries=0), response_format)
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "stop"
    answer = json.loads(message.content)  # content is never empty: Frigate's reasoning_content fallback stays unused
    jsonschema.validate(answer, FRIGATE_SCHEMA)
    assert getattr(message, "reasoning_content", None) is None


def test_old_frigate_releases_send_the_prompt_as_a_bare_string_among_the_parts(server):
    import httpx

    url, _ = server
    content = [{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg_b64()}", "detail": "low"}},
               "Is there a red circle?"]  # fmt: skip
    body = {"model": "trio-tiny", "messages": [{"role": "user", "content": content}]}
    reply = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "yes"
