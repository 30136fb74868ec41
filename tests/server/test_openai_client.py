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


# LLM Vision (valentinfrlch/ha-llmvision 1.7.0, providers.py), "Custom OpenAI" provider: a plain POST to the URL the
# user gives (…/v1 gets /chat/completions added), a text label before each image, the prompt last, the system
# prompt first, max_completion_tokens, temperature and top_p; json_schema "response" with strict when asked. Its
# connection check is a text-only "Hi" that must answer 200 with JSON.
def llmvision_body(*, structured: bool) -> dict:
    content = []
    for number in (1, 2):
        content += [{"type": "text", "text": f"Image {number}:"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg_b64()}"}}]  # fmt: skip
    content.append({"type": "text", "text": "Is there a red circle? Answer yes or no."})
    body = {
        "model": "trio-tiny",
        "messages": [{"role": "system", "content": "You describe security camera images briefly."},
                     {"role": "user", "content": content}],
        "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.9,
    }  # fmt: skip
    if structured:
        schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
                  "required": ["answer"], "additionalProperties": False}  # fmt: skip
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema,
                                                                          "strict": True}}  # fmt: skip
    return body


def test_llm_vision_custom_openai_handshake_and_requests(server):
    import json

    import httpx

    url, _ = server
    endpoint, headers = url + "/v1/chat/completions", {"Content-type": "application/json",
                                                       "Authorization": f"Bearer {KEY}"}  # fmt: skip
    hi = {"model": "trio-tiny", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    handshake = httpx.post(endpoint, json=hi, headers=headers, timeout=60)
    assert handshake.status_code == 200 and handshake.headers["content-type"] == "application/json"
    reply = httpx.post(endpoint, json=llmvision_body(structured=False), headers=headers, timeout=60).json()
    assert reply["choices"][0]["message"]["content"]
    reply = httpx.post(endpoint, json=llmvision_body(structured=True), headers=headers, timeout=60).json()
    assert json.loads(reply["choices"][0]["message"]["content"])["answer"] in ("yes", "no")


# Home Assistant's own openai_conversation speaks OpenAI's Responses API and has no base URL setting, so it cannot
# reach trio; two custom integrations speak chat completions with a configurable base URL:
# - Extended OpenAI Conversation (jekalmin/extended_openai_conversation 2.0.0): models.list at setup, then system
#   prompt + user text, top_p, temperature, user, max_tokens, and its functions as tools with tool_choice "auto";
# - Local OpenAI LLM (skye-harris/hass_local_openai_llm 1.11.1), conversation and AI task: models.list at setup,
#   stream=True, parallel_tool_calls, images (detail "auto") before the text, json_schema strict for AI task data,
#   extra_body chat_template_kwargs. trio answers in text and never calls tools: the tool fields are accepted and
#   ignored.
HA_TOOLS = [{"type": "function", "function": {"name": "execute_services", "description": "Run a service.",
             "parameters": {"type": "object", "properties": {"list": {"type": "array"}}}}}]  # fmt: skip


def test_extended_openai_conversation_request(client):
    assert [model.id for model in client.models.list()] == ["trio-tiny"]
    reply = client.chat.completions.create(
        model="trio-tiny", top_p=1, temperature=0.5, user="01JCONVERSATION", max_tokens=16,
        messages=[{"role": "system", "content": "You are a smart home assistant."},
                  {"role": "user", "content": "Is the garage door open?"}],
        tools=HA_TOOLS, tool_choice="auto",
    )  # fmt: skip
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


def test_local_openai_llm_ai_task_request_streams_json_that_parses(client):
    import json

    schema = {"type": "object", "properties": {"circle": {"type": "boolean"}}, "required": ["circle"],
              "additionalProperties": False}  # fmt: skip
    stream = client.chat.completions.create(
        model="trio-tiny", stream=True, temperature=0.6, parallel_tool_calls=False, max_tokens=32,
        messages=[{"role": "system", "content": "You are a smart home assistant."},
                  {"role": "user", "content": [
                      {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg_b64()}", "detail": "auto"}},
                      {"type": "text", "text": "Is there a red circle in the driveway camera's snapshot?"}]}],
        response_format={"type": "json_schema", "json_schema": {"name": "ai_task", "strict": True, "schema": schema}},
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )  # fmt: skip
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert isinstance(json.loads(text)["circle"], bool)


def test_logprobs_give_each_tokens_probability_and_its_alternatives(client):
    import math

    reply = client.chat.completions.create(model="trio-tiny", messages=[image_message("Is there a red circle?")],
                                           logprobs=True, top_logprobs=5)  # fmt: skip
    first = reply.choices[0].logprobs.content[0]
    assert reply.choices[0].message.content == "yes" and first.token == "yes" and first.bytes == list(b"yes")
    alternatives = {top.token: top.logprob for top in first.top_logprobs}
    assert len(first.top_logprobs) == 5 and first.top_logprobs[0].token == "yes"  # greedy: the most likely
    assert [top.logprob for top in first.top_logprobs] == sorted(alternatives.values(), reverse=True)
    assert "no" in alternatives and math.exp(alternatives["yes"]) + math.exp(alternatives["no"]) <= 1.0001
    # A remote watch decides from these: P(yes) / (P(yes) + P(no)), as trio does locally.
    assert math.exp(alternatives["yes"]) / (math.exp(alternatives["yes"]) + math.exp(alternatives["no"])) > 0.5
    plain = client.chat.completions.create(model="trio-tiny", messages=[image_message("Is there a red circle?")])
    assert plain.choices[0].logprobs is None


def test_streamed_logprobs_come_with_the_last_chunk_and_top_logprobs_needs_logprobs(client):
    stream = client.chat.completions.create(model="trio-tiny", messages=[image_message("Is there a red circle?")],
                                            logprobs=True, top_logprobs=2, stream=True)  # fmt: skip
    chunks = [chunk for chunk in stream if chunk.choices]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [item.token for item in chunks[-1].choices[0].logprobs.content] == ["yes"]
    with pytest.raises(openai.BadRequestError, match="top_logprobs needs logprobs"):
        client.chat.completions.create(model="trio-tiny", messages=[image_message("Is it?")], top_logprobs=2)
