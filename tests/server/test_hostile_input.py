"""What a hostile or careless client sends a real server (the shared ``probed`` one, run as the probe ran it):
capture devices that would read files or URLs, streamed watches dropped half-way, images that declare more pixels
than they hold, errors that would show the server's own paths."""

import base64
import concurrent.futures
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.media import declared_png
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


def rss_peak_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def one_sentence(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]["message"]
    assert message.count(". ") == 0 and "Traceback" not in message, message
    return message


def test_images_that_declare_more_pixels_than_the_cap_are_refused_before_decoding(probed):
    bomb = declared_png(12000, 12000)  # 17 KB on the wire, 430 MB decoded as RGB
    (probed.media / "bomb.png").write_bytes(bomb)
    (probed.media / "huge.png").write_bytes(declared_png(30000, 30000))  # past even Pillow's own ceiling
    inline = "data:image/png;base64," + base64.b64encode(bomb).decode()
    chat = {"model": "trio-tiny", "max_tokens": 2, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": inline}}]}]}  # fmt: skip

    def post(path: str, **kwargs) -> httpx.Response:
        return httpx.post(probed.url + path, headers=probed.user, timeout=120, **kwargs)

    before = rss_peak_kb(probed.process.pid)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:  # six at once, as the probe sent them
        answers = list(pool.map(lambda _: post("/v1/chat/completions", json=chat), range(6)))
    growth_mb = (rss_peak_kb(probed.process.pid) - before) / 1024
    print(f"peak RSS growth of the server for 6 concurrent 12000x12000 PNGs: {growth_mb:.0f} MB")
    assert growth_mb < 200  # each would be 430 MB decoded
    for answer in answers:
        assert "12000x12000" in one_sentence(answer, 413)
    assert "12000x12000" in one_sentence(post("/analyze-frame", json={"frame_b64": inline, "question": "Hi?"}), 413)
    files = {"frames": ("bomb.png", bomb, "image/png")}
    assert "12000x12000" in one_sentence(post("/v1/frames/analyze", files=files, data={"prompt": "Hi?"}), 413)
    for name in ("bomb.png", "huge.png"):
        message = one_sentence(post("/v1/video/analyze", json={"video": name, "prompt": "Hi?"}), 413)
        assert name in message and str(probed.media) not in message
        body = {"source": name, "conditions": ORANGE}
        message = one_sentence(post("/v1/watch", json=body), 413)
        assert name in message and str(probed.media) not in message


def test_the_cli_refuses_such_an_image_in_one_sentence(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(declared_png(30000, 30000))
    trio = Path(sys.executable).with_name("trio")
    done = subprocess.run(
        [str(trio), "analyze", str(path), "-q", "What is this?", "--model", "trio-tiny"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "DecompressionBomb" not in done.stderr, done.stderr
    assert "huge.png" in done.stderr and "pixels" in done.stderr


def test_errors_name_what_the_client_sent_never_the_server_s_files(probed):
    broken = (DEMO / "moving.mp4").read_bytes()[:3000]  # a truncated video
    (probed.media / "broken.mp4").write_bytes(broken)
    inline = "data:video/mp4;base64," + base64.b64encode(broken).decode()
    for video in (inline, "broken.mp4"):
        answer = httpx.post(probed.url + "/v1/video/analyze", json={"video": video, "prompt": "Hi?"},
                            headers=probed.user, timeout=120)  # fmt: skip
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert tempfile.gettempdir() not in message and str(probed.media) not in message, message
        assert ("broken.mp4" if video == "broken.mp4" else "the video") in message, message
