"""response_format on /v1/chat/completions: json_object and json_schema by constrained decoding (the answer always
parses against the schema), and a schema that is invalid or unsupported is a 400 naming the problem."""

import json

import jsonschema
import pytest
from httpx_sse import connect_sse

from tests.server.conftest import data_url

QUESTION = "Describe the shapes."


def chat(client, response_format, *, stream=False, max_tokens=48):
    body = {"model": "trio-tiny", "max_tokens": max_tokens, "response_format": response_format, "stream": stream,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url()}},
                                                      {"type": "text", "text": QUESTION}]}]}  # fmt: skip
    return client.post("/v1/chat/completions", json=body)


SHAPES = {
    "type": "object",
    "properties": {
        "shapes": {"type": "array", "items": {"type": "string", "enum": ["circle", "square", "triangle"]},
                   "maxItems": 3},
        "count": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["count", "shapes"],
    "additionalProperties": False,
}  # fmt: skip


def test_a_json_schema_answer_parses_against_the_schema_where_free_text_does_not(client):
    free = chat(client, {"type": "text"}).json()["choices"][0]["message"]["content"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(free)  # the model left to itself: not JSON
    reply = chat(client, {"type": "json_schema", "json_schema": {"name": "shapes", "schema": SHAPES, "strict": True}})
    assert reply.status_code == 200
    choice = reply.json()["choices"][0]
    jsonschema.validate(json.loads(choice["message"]["content"]), SHAPES)
    assert choice["finish_reason"] == "stop"


def test_json_object_gives_an_object_and_streaming_gives_the_same_constrained_answer(client):
    whole = chat(client, {"type": "json_object"}).json()["choices"][0]["message"]["content"]
    assert isinstance(json.loads(whole), dict)
    body = {"type": "json_schema", "json_schema": {"name": "shapes", "schema": SHAPES}}
    whole = chat(client, body).json()["choices"][0]["message"]["content"]
    request = {"model": "trio-tiny", "max_tokens": 48, "response_format": body, "stream": True,
               "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url()}},
                                                         {"type": "text", "text": QUESTION}]}]}  # fmt: skip
    with connect_sse(client, "POST", "/v1/chat/completions", json=request) as source:
        deltas = [json.loads(event.data) for event in source.iter_sse() if event.data != "[DONE]"]
    streamed = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in deltas if chunk["choices"])
    assert streamed.strip() == whole


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}, "Invalid type: objekt"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "(?<=a)b"}}},
         "look-around, including look-ahead and look-behind, is not supported"),
        ({"type": "json_schema"}, "type json_schema needs a json_schema object"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": "not an object"}}, "response_format"),
        ({"type": "yaml"}, "response_format"),
    ],
)  # fmt: skip
def test_an_invalid_or_unsupported_schema_is_a_400_naming_the_problem(client, response_format, expected):
    reply = chat(client, response_format)
    assert reply.status_code == 400 and expected in reply.json()["error"]["message"]


def test_trio_bench_structured_compares_constrained_and_free_decoding_side_by_side():
    from tests.cli import run_trio

    report = json.loads(run_trio("bench", "structured", "--runs", "2", "--json", check=True).stdout)
    assert report["constrained"]["parses"] == 2 and report["free"]["parses"] == 0
    assert (
        report["ms_per_token_ratio"] > 0
        and 0 < report["constraint_ms_per_token"] < report["constrained"]["ms_per_token"]
    )
