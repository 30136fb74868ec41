"""/v1/watch: conditions on a source's frames, as server-sent events; listing, stopping, limits."""

import base64
import io
import json

import httpx
import pytest
from httpx_sse import connect_sse
from PIL import Image

from tests.server.conftest import DEMO, app_client, running_server
from trio_core.credentials import masked
from trio_core.testing import free_port

CONDITIONS = [
    {"id": "orange", "question": "Is there an orange square?"},
    {"id": "purple", "question": "Is there a purple triangle?"},
]


@pytest.fixture(scope="module")
def client():
    with app_client(media_roots=[str(DEMO)], max_watches=1) as client:
        yield client


def events(client, body):
    with connect_sse(client, "POST", "/v1/watch", json=body) as source:
        assert source.response.status_code == 200, source.response.read()
        return [(event.event, json.loads(event.data)) for event in source.iter_sse()]


def test_a_watch_streams_results_and_one_alert_per_cooldown(client):
    seen = events(client, {"source": "moving.mp4", "conditions": CONDITIONS, "fps": 2, "cooldown_s": 3600})
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    # Every event is the core's JSON: its type as the SSE event name and in the data.
    assert all(data["type"] == kind and data["watch"] == seen[0][1]["watch"] and "t" in data for kind, data in seen)
    results = [data for kind, data in seen if kind == "result"]
    assert len(results) == 2 * seen[-1][1]["frames_analysed"] >= 8  # one per condition per frame
    assert all(isinstance(data["pts"], float) and data["condition"] in {"orange", "purple"} for data in results)
    fired = {data["condition"] for data in results if data["yes"]}
    assert fired == {"orange"}  # the clip's orange square; never a purple triangle
    alerts = [data for kind, data in seen if kind == "alert"]
    assert [alert["condition"] for alert in alerts] == ["orange"]  # then quiet for the cooldown
    assert alerts[0]["probability"] >= 0.5 and alerts[0]["frames"] == [alerts[0]["pts"]]
    picture = Image.open(io.BytesIO(base64.b64decode(alerts[0]["jpeg_b64"])))
    assert picture.format == "JPEG" and max(picture.size) <= 640


def test_without_a_cooldown_every_run_of_yes_starts_an_alert(client):
    seen = events(client, {"source": "moving.mp4", "conditions": CONDITIONS[:1], "fps": 4, "cooldown_s": 0})
    answers = [data["yes"] for kind, data in seen if kind == "result"]
    runs = sum(1 for index, yes in enumerate(answers) if yes and (index == 0 or not answers[index - 1]))
    assert len([kind for kind, _ in seen if kind == "alert"]) == runs >= 1
    assert len([kind for kind, _ in seen if kind == "cleared"]) == sum(
        1 for index in range(1, len(answers)) if answers[index - 1] and not answers[index]
    )


def test_a_running_watch_is_listed_and_can_be_stopped(client):
    body = {"source": "moving.mp4", "conditions": CONDITIONS, "fps": 8}
    with connect_sse(client, "POST", "/v1/watch", json=body) as source:
        stream = source.iter_sse()
        started = json.loads(next(stream).data)
        listed = client.get("/v1/watch").json()["watches"]
        assert [watch["id"] for watch in listed] == [started["watch"]] and listed[0]["source"] == "moving.mp4"
        busy = client.post("/v1/watch", json=body)  # max_watches=1
        assert busy.status_code == 429
        assert client.delete(f"/v1/watch/{started['watch']}").status_code == 200
        rest = [(event.event, json.loads(event.data)) for event in stream]
    assert rest[-1][0] == "ended" and rest[-1][1]["reason"] == "stopped"
    assert client.get("/v1/watch").json()["watches"] == []
    assert client.delete("/v1/watch/nope").status_code == 404


def test_credentials_in_sources_are_masked():
    assert masked("rtsp://admin:hunter2@10.0.0.5:554/stream") == "rtsp://***@10.0.0.5:554/stream"
    assert masked("http://user@host/x.mp4") == "http://***@host/x.mp4"
    assert masked("moving.mp4") == "moving.mp4"


def test_a_listed_url_source_hides_its_password(local_http):
    url = local_http.replace("http://", "http://cam:hunter2@") + "/moving.mp4"
    with app_client(allow_private_urls=True) as client:
        # In the background: it stays listed after the clip ends (a stream's watch leaves the listing as it ends).
        body = {"source": url, "conditions": CONDITIONS[:1], "fps": 8, "background": True}
        started = client.post("/v1/watch", json=body)
        assert started.status_code == 201 and "hunter2" not in started.text
        listed = client.get("/v1/watch").text
        assert "hunter2" not in listed and "***@127.0.0.1" in listed


def test_bad_sources_and_bodies_are_4xx(client):
    rtsp = client.post(
        "/v1/watch", json={"source": f"rtsp://cam:hunter2@127.0.0.1:{free_port()}/cam", "conditions": CONDITIONS}
    )
    assert rtsp.status_code == 400 and "Nothing is listening at 127.0.0.1:" in rtsp.json()["error"]["message"]
    assert "hunter2" not in rtsp.text
    typo = client.post("/v1/watch", json={"source": "rtps://127.0.0.1/cam", "conditions": CONDITIONS})
    assert typo.status_code == 400 and "did you mean rtsp://?" in typo.json()["error"]["message"]
    outside = client.post("/v1/watch", json={"source": "../../README.md", "conditions": CONDITIONS})
    assert outside.status_code == 403
    assert client.post("/v1/watch", json={"source": "moving.mp4", "conditions": []}).status_code == 400
    with app_client(media_roots=[str(DEMO)], max_watches=0) as none_allowed:
        assert (
            none_allowed.post("/v1/watch", json={"source": "moving.mp4", "conditions": CONDITIONS}).status_code == 429
        )


@pytest.fixture
def long_clip(tmp_path):
    """The demo clip forty times over (80 s): a watch on it is still running when the client answers its first alert.

    On the 2-second clip itself, a fast model can answer every frame, and the server end the watch,
    before the client has read the first alert and sent its DELETE.
    """
    import av

    from tests.media import write_clip

    with av.open(str(DEMO / "moving.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return write_clip(tmp_path / "long.mp4", frames * 40, fps=len(frames) / 2)


def test_a_watch_on_a_real_server_alerts_and_stops_on_delete(long_clip):
    key = {"Authorization": "Bearer watch-key"}
    root = str(long_clip.parent)
    with running_server("--model", "trio-tiny", "--media-root", root, "--api-key", "watch-key") as (url, _):
        body = {"source": long_clip.name, "conditions": CONDITIONS[:1], "fps": 4, "cooldown_s": 0}
        with httpx.Client(base_url=url, headers=key, timeout=60) as client:
            with connect_sse(client, "POST", "/v1/watch", json=body) as source:
                stream = source.iter_sse()
                watch_id = json.loads(next(stream).data)["watch"]
                kinds = []
                for event in stream:
                    kinds.append(event.event)
                    if event.event == "alert" and kinds.count("alert") == 1:
                        assert httpx.delete(f"{url}/v1/watch/{watch_id}", headers=key).status_code == 200
                ended = json.loads(event.data)
            assert "alert" in kinds and kinds[-1] == "ended" and ended["reason"] == "stopped"
            assert ended["frames_analysed"] < 320  # stopped by the DELETE, not by the end of the clip
            assert client.get("/v1/watch").json() == {"watches": []}
