"""A live http(s) source a request names keeps to the one rule for outbound connections (trio_core.outbound).

A request's MJPEG stream is read by trio itself over the pinned connection (the address checked, each redirect hop
checked before it is connected to) and handed to PyAV as a file: FFmpeg never connects, so it can neither resolve
the name again nor follow a redirect anywhere. A request's HLS playlist, whose segments FFmpeg would fetch from any
host, is refused unless the server runs with --allow-private-urls. The command line and the admin's watches file
keep FFmpeg reading the URL.

A public name cannot be made to resolve to loopback in a test, so the reader is also tested with a rule given
explicitly: one loopback address stands in for the public internet, another for what a request may not reach.
Nothing here connects anywhere but loopback, and every refusal is checked by a listener that sees no connection.
"""

import contextlib
import http.server
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from tests.server.conftest import running_server
from tests.streams.servers import MjpegServer
from trio_core.config import EngineConfig
from trio_core.errors import MediaError
from trio_core.frames import Frame, SamplingPlan, SourceNotice
from trio_core.outbound import AddressRefused, Reach
from trio_core.sources.live import Refused
from trio_core.sources.stream import PinnedURL, StreamSource

ORANGE = [{"id": "orange", "question": "Is there an orange square?"}]
PLAN = SamplingPlan(fps=10, max_frames=4, max_side=64)
FAST = EngineConfig(source_settings={"stream": {"backoff_initial_s": 0.05, "backoff_jitter": 0, "open_timeout_s": 5}})


def frames(count=6):
    return [np.full((48, 64, 3), 20 * index, np.uint8) for index in range(count)]


class OnlyPublic(Reach):
    """A request's rule in which ``public`` (a loopback address) stands for the public internet: every other
    address is refused as a request's URL would be."""

    def __init__(self, public: str):
        super().__init__()
        self.public = public

    def check(self, address: str, what: str) -> None:
        if address != self.public:
            super().check(address, what)


class Listener:
    """An HTTP server on a loopback address that records each request (path, Host, User-Agent) and answers with
    ``reply(path)``: ``(status, headers)``."""

    def __init__(self, reply, host="127.0.0.1"):
        self.requests: list[dict] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                listener.requests.append(
                    {"path": self.path, "host": self.headers["Host"], "agent": self.headers.get("User-Agent", "")}
                )
                status, headers = reply(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/video.mjpg", host="127.0.0.1"):
        return f"http://{host}:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def listening(reply, host="127.0.0.1"):
    server = Listener(reply, host)
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def tripwire(host="127.0.0.1"):
    """A TCP listener that counts the connections it gets: where a refused request points."""
    server = socket.create_server((host, 0))
    seen = []

    def accept():
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            seen.append(peer)
            peer.close()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1], seen
    finally:
        server.close()


def redirect_to(url):
    return lambda path: (302, {"Location": url})


def read(url, config=FAST, plan=PLAN):
    return list(StreamSource().open(url, plan, config))


# The reader, under a rule given explicitly ---------------------------------------------------------------------------


def test_a_pinned_mjpeg_stream_is_read_by_trio_through_each_checked_redirect():
    with MjpegServer(frames(), fps=20) as camera, listening(redirect_to(camera.url)) as front:
        url = front.url(host="localhost")  # a name: resolved once, checked, connected to by address
        read_frames = read(PinnedURL(url, Reach(allow_private=True)))
    assert len(read_frames) == 4 and all(isinstance(frame, Frame) for frame in read_frames)
    assert read_frames[0].image.shape == (48, 64, 3)
    [request] = front.requests
    assert request["host"] == f"localhost:{front.port}"  # the name goes in the Host header, the address is pinned
    assert not request["agent"].startswith("Lavf")  # FFmpeg never connects


def test_a_redirect_to_an_address_the_rule_refuses_is_refused_before_connecting_there():
    with tripwire("127.0.0.2") as (port, seen):
        refused = f"http://127.0.0.2:{port}/video.mjpg"
        with listening(redirect_to(refused)) as front:
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.2.*public addresses only"):
                read(PinnedURL(front.url(), OnlyPublic("127.0.0.1")))
            assert len(front.requests) == 1  # the allowed hop was asked
        time.sleep(0.2)
        assert seen == []  # the refused one never was


def test_a_host_the_rule_refuses_is_refused_before_any_connection():
    with tripwire() as (port, seen):
        with pytest.raises(AddressRefused, match="public addresses only"):
            read(PinnedURL(f"http://127.0.0.1:{port}/video.mjpg", Reach()))
        with pytest.raises(AddressRefused, match="public addresses only"):
            read(PinnedURL(f"http://localhost:{port}/video.mjpg", Reach()))
        time.sleep(0.2)
        assert seen == []


def test_a_pinned_stream_fails_in_one_sentence_as_the_camera_would():
    answers = {
        "/missing.mjpg": (404, {}),
        "/locked.mjpg": (401, {"WWW-Authenticate": 'Basic realm="cam"'}),
        "/loop.mjpg": (302, {"Location": "/loop.mjpg"}),
    }
    with listening(lambda path: answers[path]) as camera:
        allowed = Reach(allow_private=True)
        with pytest.raises(MediaError, match=r"has no stream at .* \(404 Not Found\): check the URL's path\.$"):
            read(PinnedURL(camera.url("/missing.mjpg"), allowed))
        with pytest.raises(Refused, match=r"refused the user name or password \(401 Unauthorized\)") as refused:
            read(PinnedURL(camera.url("/locked.mjpg", host="admin:s3cret@127.0.0.1"), allowed))
        assert "s3cret" not in str(refused.value)
        assert camera.requests[-1]["path"] == "/locked.mjpg"
        with pytest.raises(MediaError, match="redirects more than 3 times"):
            read(PinnedURL(camera.url("/loop.mjpg"), allowed))
    with pytest.raises(MediaError, match=r"^Nothing is listening at 127\.0\.0\.1:\d+ \(connection refused\)"):
        read(PinnedURL(f"http://127.0.0.1:{port_nobody_uses()}/video.mjpg", Reach(allow_private=True)))


def test_a_pinned_stream_that_drops_reconnects():
    with MjpegServer(frames(3), fps=20, hold=False) as camera:  # a camera that hangs up after 3 frames
        items = read(PinnedURL(camera.url, Reach(allow_private=True)), plan=SamplingPlan(fps=20, max_frames=5))
    kinds = [item.kind for item in items if isinstance(item, SourceNotice)]
    assert kinds[:2] == ["reconnecting", "reconnected"]
    assert sum(isinstance(item, Frame) for item in items) == 5


def port_nobody_uses():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A real server --------------------------------------------------------------------------------------------------------


def test_a_request_may_not_watch_an_hls_playlist(probed):
    with listening(lambda path: (404, {})) as hls:
        answer = httpx.post(probed.url + "/v1/watch", headers=probed.user, timeout=60,
                            json={"source": hls.url("/live/camera.m3u8"), "conditions": ORANGE})  # fmt: skip
        assert answer.status_code == 403, answer.text
        message = answer.json()["error"]["message"]
        assert message.startswith("A request may not watch an HLS playlist") and message.count(". ") == 0
        assert hls.requests == []


def test_a_request_s_mjpeg_url_on_loopback_is_refused_before_any_connection(probed):
    with tripwire() as (port, seen):
        for background in (False, True):
            answer = httpx.post(probed.url + "/v1/watch", headers=probed.user, timeout=60, json={
                "source": f"http://127.0.0.1:{port}/video.mjpg", "conditions": ORANGE, "background": background,
            })  # fmt: skip
            assert answer.status_code == 403 and "public addresses only" in answer.json()["error"]["message"]
        time.sleep(0.2)
        assert seen == []


def test_with_private_urls_allowed_a_request_s_mjpeg_camera_is_watched_through_trio_s_own_connection():
    with (
        MjpegServer(frames(8), fps=8) as camera,
        listening(redirect_to(camera.url)) as front,
        running_server("--model", "trio-tiny", "--allow-private-urls") as (url, _process),
    ):
        body = {"source": front.url(), "conditions": ORANGE, "fps": 4, "max_side": 64}
        with httpx.stream("POST", url + "/v1/watch", json=body, timeout=60) as stream:
            assert stream.status_code == 200
            kinds = []
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kinds.append(line[len("event: ") :])
                if "result" in kinds:
                    break
        answer = httpx.post(url + "/v1/watch", json={**body, "name": "door", "background": True}, timeout=60)
        assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 60
        while not httpx.get(url + "/v1/watch/door/frame.jpg", timeout=10).is_success:
            assert time.monotonic() < deadline, json.dumps(httpx.get(url + "/v1/watch", timeout=10).json())
            time.sleep(0.2)
    # the stream's watch, the background watch's probe and its own watch: each by trio, none by FFmpeg
    assert len(front.requests) >= 3
    assert not any(request["agent"].startswith("Lavf") for request in front.requests), front.requests
