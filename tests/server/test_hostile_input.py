"""What a hostile or careless client sends a real server (the shared ``probed`` one, run as the probe ran it):
capture devices that would read files or URLs, streamed watches dropped half-way, images that declare more pixels
than they hold, errors that would show the server's own paths."""

import http.server
import json
import shutil
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from tests.server.conftest import DEMO

ORANGE = [{"id": "orange", "question": "Is there an orange square?"}]
PATTERN = "webcam://testsrc2=size=64x48:rate=4,realtime?format=lavfi"  # FFmpeg's test pattern: allowed over HTTP


@pytest.fixture
def counting_http():
    """An HTTP server on 127.0.0.1 that counts the requests it gets (it must get none)."""
    hits = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write((DEMO / "shapes.png").read_bytes())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def streams(probed) -> list[dict]:
    listing = httpx.get(probed.url + "/v1/watch", headers=probed.user, timeout=30).json()["watches"]
    return [watch for watch in listing if watch["kind"] == "stream"]


def test_a_webcam_source_over_http_names_only_a_camera_or_a_test_pattern(probed, tmp_path, counting_http):
    outside = tmp_path / "outside.png"  # a picture outside the media root
    shutil.copy(DEMO / "shapes.png", outside)
    url, hits = counting_http
    hostile = [
        f"webcam://movie={outside}?format=lavfi",  # lavfi's movie source reads any file
        f"webcam://{outside}?format=image2",  # so does any demuxer asked for by name
        f"webcam://movie={url}/shapes.png?format=lavfi",  # and opens URLs, past the private-address rule
        f"webcam://%6Dovie={outside}?format=lavfi",  # the same, percent-encoded
        "webcam://testsrc2=size=64x48,drawtext=textfile=/etc/hostname?format=lavfi",  # a filter that reads a file
        "webcam://testsrc2=size=64x48;movie=/etc/hostname?format=lavfi",  # a second chain
        "webcam://testsrc2='size=64x48,movie=/etc/hostname'?format=lavfi",  # quoting
        "webcam:///etc/hostname",  # the platform's capture API, on a file that is no camera
        "webcam://0?format=concat",
    ]
    for source in hostile:
        for background in (False, True):
            body = {"source": source, "conditions": ORANGE, "background": background}
            answer = httpx.post(probed.url + "/v1/watch", json=body, headers=probed.user, timeout=60)
            assert answer.status_code == 403, (source, answer.text)
            message = answer.json()["error"]["message"]
            assert message.count(". ") == 0 and "webcam" in message, message  # one sentence
    assert hits == []
    listing = httpx.get(probed.url + "/v1/watch", headers=probed.user, timeout=30).json()["watches"]
    assert [watch["id"] for watch in listing] == ["clip"]


def test_a_client_that_drops_a_streamed_watch_ends_it_and_frees_its_slot(probed):
    body = {"source": PATTERN, "conditions": ORANGE, "fps": 2}
    seen: list[dict] = []
    listening = threading.Event()

    def live() -> None:
        with (
            httpx.Client(base_url=probed.url, headers=probed.user, timeout=120) as client,
            connect_sse(client, "GET", "/v1/watch/live") as source,
        ):
            for event in source.iter_sse():
                listening.set()
                if event.event == "ended":
                    seen.append(json.loads(event.data))
                if len([e for e in seen if e.get("reason") == "client gone"]) == 6:
                    return

    watcher = threading.Thread(target=live, daemon=True)
    watcher.start()
    assert listening.wait(30)
    dropped = []
    for round_ in range(6):  # more rounds than the server runs watches at once (4)
        leave_after = "started" if round_ % 2 == 0 else "result"
        with httpx.stream("POST", probed.url + "/v1/watch", json=body, headers=probed.user, timeout=120) as answer:
            assert answer.status_code == 200, answer.read()
            event = None
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "started":
                    dropped.append(json.loads(line.removeprefix("data: "))["watch"])
                if line.startswith("data: ") and event == leave_after:
                    break  # the client goes away mid-stream
    deadline = time.monotonic() + 90
    while streams(probed) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert streams(probed) == []
    watcher.join(90)
    ended = {event["watch"]: event["reason"] for event in seen}
    assert all(ended.get(watch) == "client gone" for watch in dropped), (dropped, ended)


def test_deleting_a_streamed_watch_removes_it_at_once(probed):
    body = {"source": PATTERN, "conditions": ORANGE, "fps": 2}
    kinds, reason = [], None
    with (
        httpx.Client(base_url=probed.url, headers=probed.user, timeout=120) as client,
        connect_sse(client, "POST", "/v1/watch", json=body) as stream,
    ):
        for event in stream.iter_sse():
            kinds.append(event.event)
            data = json.loads(event.data)
            if event.event == "result" and kinds.count("result") == 1:
                answer = client.delete(f"/v1/watch/{data['watch']}")
                assert answer.json() == {"id": data["watch"], "state": "removed"}
                assert streams(probed) == []
                assert client.delete(f"/v1/watch/{data['watch']}").status_code == 404
            if event.event == "ended":
                reason = data["reason"]
    assert kinds[0] == "started" and kinds[-1] == "ended" and reason == "stopped"
