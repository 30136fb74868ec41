"""`/v1/watch` on live sources: an RTSP camera (password masked in events and listings) and a webcam."""

import json

from httpx_sse import connect_sse

from tests.server.conftest import app_client
from tests.streams.conftest import APPEARS_AT, SHAPE_FPS
from tests.watch.conftest import ORANGE


def test_a_camera_watch_over_http_alerts_when_the_shape_appears_and_never_shows_the_password(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS, user="cam", password="hunter2")
    body = {"source": camera.authorized_url, "conditions": [{"id": "orange", "question": ORANGE}], "fps": 2}
    with app_client() as client, connect_sse(client, "POST", "/v1/watch", json=body) as source:
        assert source.response.status_code == 200
        seen, listed = [], None
        for event in source.iter_sse():
            seen.append(json.loads(event.data))
            if event.event == "result" and listed is None:
                listed = client.get("/v1/watch").text
            if event.event == "alert":
                client.delete(f"/v1/watch/{seen[0]['watch']}")
    assert "hunter2" not in listed + json.dumps(seen) and f"***@127.0.0.1:{camera.port}" in listed
    alerts = [data for data in seen if data["type"] == "alert"]
    assert alerts and alerts[0]["pts"] >= APPEARS_AT - 0.5 and alerts[0]["jpeg_b64"]
    assert seen[-1]["type"] == "ended" and seen[-1]["reason"] == "stopped"


def test_a_wrong_camera_password_is_a_4xx_before_any_event(rtsp_server):
    camera = rtsp_server(user="cam", password="hunter2")
    body = {"source": camera.url_with("cam", "wrong-one"), "conditions": [{"id": "x", "question": ORANGE}]}
    with app_client() as client:
        answer = client.post("/v1/watch", json=body)
    assert answer.status_code == 400
    assert "refused the user name or password" in answer.json()["error"]["message"]
    assert "wrong-one" not in answer.text


def test_a_webcam_watch_over_http(tmp_path):
    source = "webcam://testsrc2=size=160x120:rate=10,realtime?format=lavfi"  # the lavfi device: see test_webcam.py
    body = {"source": source, "conditions": [{"id": "orange", "question": ORANGE}], "fps": 4}
    with app_client() as client, connect_sse(client, "POST", "/v1/watch", json=body) as stream:
        kinds = []
        for event in stream.iter_sse():
            kinds.append(event.event)
            if kinds.count("result") == 3:
                client.delete(f"/v1/watch/{json.loads(event.data)['watch']}")
    assert kinds[0] == "started" and kinds.count("result") >= 3 and kinds[-1] == "ended"
