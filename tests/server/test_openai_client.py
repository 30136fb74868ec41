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
