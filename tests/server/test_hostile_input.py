"""What a hostile or careless client sends a real server (the shared ``probed`` one, run as the probe ran it):
capture devices that would read files or URLs, streamed watches dropped half-way, images that declare more pixels
than they hold, errors that would show the server's own paths."""

import base64
import concurrent.futures
import http.server
import io
import json
import shutil
import struct
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
        "webcam://testsrc=size=15000x15000:rate=1?format=lavfi",  # a pattern larger than trio decodes
        "webcam://testsrc=size=64x64:rate=5,scale=w=64+n*1000:h=64+n*1000:eval=frame?format=lavfi",  # growing
        "webcam://color=c=red:rate=50000?format=lavfi",  # a rate that spins the CPU
        "webcam://mandelbrot=size=64x48?format=lavfi",  # so does this pattern
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


def progressive_jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny progressive JPEG whose frame header (SOF2) declares ``width`` x ``height``: libjpeg holds the
    coefficients of the whole declared picture, however small it is asked to decode it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "JPEG", progressive=True, subsampling=0)
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc2") + 5  # marker, length (2), precision (1): then height, width
    data[at : at + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def icon_holding(png: bytes) -> bytes:
    """An ICO whose directory says 256x256 and which holds ``png``, whatever its size."""
    return struct.pack("<HHHBBBBHHII", 0, 1, 1, 0, 0, 0, 0, 1, 32, len(png), 22) + png


def test_formats_that_decode_more_than_their_header_says_are_not_read(probed):
    bomb = declared_png(12000, 12000)
    small = (DEMO / "shapes.png").read_bytes()
    cases = {  # what is sent: (data URL, the status it gets)
        "progressive JPEG": ("data:image/jpeg;base64,", progressive_jpeg_declaring(13300, 13300), "image_url", 413),
        "ICO holding a huge PNG": ("data:image/x-icon;base64,", icon_holding(bomb), "image_url", 400),
        "EPS (Ghostscript)": (
            "data:image/eps;base64,",
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n{ 1 pop } loop\n",
            "image_url",
            400,
        ),  # fmt: skip
        "a picture as a video": ("data:video/mp4;base64,", bomb, "video_url", 400),
        "a small frame, then a huge one": ("data:video/mp4;base64,", small + bomb, "video_url", 400),
    }
    before = rss_peak_kb(probed.process.pid)
    for name, (prefix, payload, kind, status) in cases.items():
        url = prefix + base64.b64encode(payload).decode()
        chat = {"model": "trio-tiny", "max_tokens": 2, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": kind, kind: {"url": url}}]}]}  # fmt: skip
        answer = httpx.post(probed.url + "/v1/chat/completions", json=chat, headers=probed.user, timeout=120)
        assert answer.status_code == status, (name, answer.text)
    growth_mb = (rss_peak_kb(probed.process.pid) - before) / 1024
    assert growth_mb < 200, growth_mb
    assert "CalledProcessError" not in probed.process.log.read_text()


def test_an_uploaded_video_cannot_name_other_files(probed):
    folder = Path(tempfile.mkdtemp(prefix="trio-probe-"))  # beside the temporary file the upload is saved to
    shutil.copy(DEMO / "shapes.png", folder / "secret.png")
    listing = f"ffconcat version 1.0\nfile {folder.name}/secret.png\n".encode()
    source = "data:video/mp4;base64," + base64.b64encode(listing).decode()
    body = {"source": source, "conditions": ORANGE, "background": True}
    answer = httpx.post(probed.url + "/v1/watch", json=body, headers=probed.user, timeout=60)
    assert answer.status_code == 400, answer.text
    assert tempfile.gettempdir() not in answer.text
    shutil.rmtree(folder)


def test_a_watch_s_errors_name_what_the_client_sent(probed):
    data = bytearray((DEMO / "moving.mp4").read_bytes())
    data[len(data) // 4 : -2000] = bytes(len(data) // 4 * 3 - 2000)  # a header, then nothing a decoder can use
    source = "data:video/mp4;base64," + base64.b64encode(bytes(data)).decode()
    texts = []
    with httpx.stream("POST", probed.url + "/v1/watch", json={"source": source, "conditions": ORANGE},
                      headers=probed.user, timeout=120) as answer:  # fmt: skip
        texts.append(answer.read().decode())
    background = {"source": source, "conditions": ORANGE, "background": True}
    answer = httpx.post(probed.url + "/v1/watch", json=background, headers=probed.user, timeout=60)
    texts.append(answer.text)
    if answer.status_code == 201:
        watch = answer.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = httpx.get(probed.url + "/v1/watch", headers=probed.user, timeout=30).json()["watches"]
            entry = next(item for item in listed if item["id"] == watch)
            if entry.get("error"):
                break
            time.sleep(0.2)
        texts.append(json.dumps(entry))  # the admin's own standing watches may name the server's paths: not this
        httpx.delete(f"{probed.url}/v1/watch/{watch}", headers=probed.user, timeout=60)
    for text in texts:
        assert tempfile.gettempdir() + "/tmp" not in text and str(probed.media) not in text, text
        assert "base64" not in text, text[:300]  # an inline video is named as such, not echoed


def test_watches_that_start_together_cannot_pass_the_limit_together(probed):
    body = {"source": PATTERN, "conditions": ORANGE, "fps": 1, "background": True}
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(
            lambda _: httpx.post(probed.url + "/v1/watch", json=body, headers=probed.user, timeout=120), range(10)
        ))  # fmt: skip
    started = [answer.json()["id"] for answer in answers if answer.status_code == 201]
    for watch in started:
        httpx.delete(f"{probed.url}/v1/watch/{watch}", headers=probed.user, timeout=60)
    assert 1 <= len(started) <= 4 and {answer.status_code for answer in answers} <= {201, 429}


def test_a_stream_url_s_passphrase_is_masked(probed):
    body = {"source": "srt://127.0.0.1:9/?passphrase=SuperSecret123&streamid=u=me,s=Key123", "conditions": ORANGE}
    answer = httpx.post(probed.url + "/v1/watch", json=body, headers=probed.user, timeout=60)
    assert answer.status_code == 400
    assert "SuperSecret123" not in answer.text and "Key123" not in answer.text
