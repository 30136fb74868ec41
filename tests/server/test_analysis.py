"""Video, frames and chat requests in-process: what each endpoint answers, and 4xx for every client mistake."""

import base64
import json

from httpx_sse import connect_sse

from tests.server.conftest import DEMO, data_url


def chat(client, content, **extra):
    body = {"model": "trio-tiny", "messages": [{"role": "user", "content": content}], **extra}
    return client.post("/v1/chat/completions", json=body)


def test_video_analysis_answers_with_metrics(client):
    answer = client.post("/v1/video/analyze", json={"video": "moving.mp4", "prompt": "Is there an orange square?"})
    body = answer.json()
    assert answer.status_code == 200 and body["text"] == "yes"
    assert (
        body["metrics"]["frames_used"] >= 2 and body["metrics"]["visual_tokens"] > 0 and body["finish_reason"] == "stop"
    )


def test_video_analysis_clamps_frames_and_size(client):
    body = {"video": "moving.mp4", "prompt": "?", "max_frames": 10_000, "max_side": 10_000, "fps": 60}
    metrics = client.post("/v1/video/analyze", json=body).json()["metrics"]
    assert metrics["frames_in"] <= 64  # the server's max_frames


def test_video_analysis_streams_deltas_then_the_result(client):
    body = {"video": "moving.mp4", "prompt": "Is there an orange square?", "stream": True}
    with connect_sse(client, "POST", "/v1/video/analyze", json=body) as source:
        seen = [(event.event, json.loads(event.data)) for event in source.iter_sse()]
    deltas = "".join(data["text"] for kind, data in seen if kind == "delta")
    assert seen[-1][0] == "result" and seen[-1][1]["text"] == deltas == "yes"


def test_uploaded_frames_are_answered_as_a_video(client):
    frame = (DEMO / "shapes.png").read_bytes()
    files = [("frames", (f"f{i}.png", frame, "image/png")) for i in range(3)]
    answer = client.post("/v1/frames/analyze", files=files, data={"prompt": "Is there a red circle?"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["metrics"]["frames_used"] == 3
    broken = client.post(
        "/v1/frames/analyze", files=[("frames", ("x.png", b"nope", "image/png"))], data={"prompt": "?"}
    )
    assert broken.status_code == 400 and "frame 1" in broken.json()["error"]["message"]
    assert client.post("/v1/frames/analyze", data={"prompt": "?"}).status_code == 400


def test_chat_takes_videos_as_a_url_or_as_frames(client):
    clip = "data:video/mp4;base64," + base64.b64encode((DEMO / "moving.mp4").read_bytes()).decode()
    by_url = chat(
        client,
        [{"type": "video_url", "video_url": {"url": clip}}, {"type": "text", "text": "Is there an orange square?"}],
    )
    assert by_url.status_code == 200 and by_url.json()["choices"][0]["message"]["content"] == "yes"
    frames = chat(client, [{"type": "video", "video": [data_url(), data_url()]}, {"type": "text", "text": "?"}])
    assert frames.status_code == 200
    two_images = chat(
        client, [{"type": "image_url", "image_url": {"url": data_url()}}] * 2 + [{"type": "text", "text": "?"}]
    )
    assert two_images.status_code == 200 and two_images.json()["usage"]["prompt_tokens"] > 2 * 256


def test_stop_strings_end_the_answer_before_them(client):
    image = [{"type": "image_url", "image_url": {"url": data_url()}}, {"type": "text", "text": "Describe the picture."}]
    full = chat(client, image).json()["choices"][0]["message"]["content"]
    cut_at = full.split()[1]
    stopped = chat(client, image, stop=[cut_at]).json()["choices"][0]
    assert stopped["message"]["content"] == full[: full.index(cut_at)].strip() and stopped["finish_reason"] == "stop"


def test_client_mistakes_are_400s_with_openai_errors(client):
    mistakes = [
        {"model": "trio-tiny", "messages": []},
        {"model": "trio-tiny", "messages": [{"role": "tool", "content": "x"}]},
        {"model": "trio-tiny", "messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"model": "trio-tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": 9},
        {"model": "trio-tiny", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]},
        {"model": "trio-tiny", "messages": [{"role": "user", "content": [{"type": "audio", "x": 1}]}]},
        {"model": "trio-tiny", "messages": [{"role": "assistant", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}]},
    ]
    for body in mistakes:
        answer = client.post("/v1/chat/completions", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["type"] == "invalid_request_error" and answer.json()["error"]["message"]
    garbage = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400
    image = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}]
    assert chat(client, image).status_code == 400
    assert chat(client, [{"type": "image_url", "image_url": {"url": "gopher://x"}}]).status_code == 400
    assert (
        client.post("/v1/video/analyze", json={"video": "data:video/mp4;base64,AAAA", "prompt": "?"}).status_code == 400
    )
    assert client.get("/no/such/route").status_code == 404
