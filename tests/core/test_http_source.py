"""The http(s) source, against a real HTTP server on 127.0.0.1."""

import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from tests.media import frame_number, numbered_clip, scene
from trio_core.config import EngineConfig
from trio_core.errors import MediaError
from trio_core.frames import SamplingPlan
from trio_core.sources import HttpSource, read_frames

PLAN = SamplingPlan(fps=2.0, min_frames=2, max_frames=16, max_side=None)


class Server:
    """Serves ``routes`` (path -> (status, headers, body)) plus a few misbehaving paths."""

    def __init__(self, routes):
        self.routes = routes
        self.release = threading.Event()  # ends the slow handler at teardown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/slow.mp4":  # headers at once, then nothing
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.flush()
                    server.release.wait(10)
                    return
                if self.path == "/endless.mp4":  # no Content-Length: the body runs until the connection closes
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(64):
                            self.wfile.write(b"\0" * 65536)
                    except OSError:
                        pass  # the client hung up once it had read enough
                    return
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    clip = numbered_clip(folder / "clip.mp4", 60, 30).read_bytes()
    Image.fromarray(scene((120, 80))).save(folder / "photo.png")
    png = (folder / "photo.png").read_bytes()
    served = Server(
        {
            "/clip.mp4": (200, {"Content-Type": "video/mp4"}, clip),
            "/clip.mp4?token=abc": (200, {"Content-Type": "video/mp4"}, clip),
            "/photo.png": (200, {"Content-Type": "image/png"}, png),
            "/media/12345": (200, {"Content-Type": "image/png"}, png),
            "/watch": (200, {"Content-Type": "video/mp4"}, clip),
            "/big.mp4": (200, {"Content-Length": str(50 * 1024 * 1024)}, b""),
            "/noise.mp4": (200, {"Content-Type": "video/mp4"}, np.random.default_rng(0).bytes(4096)),
            "/moved.mp4": (302, {"Location": "/clip.mp4"}, b""),
            "/broken.mp4": (500, {}, b"oops"),
        }
    )
    yield served
    served.close()


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """Downloads land here, so a test can see that they are deleted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def config(**overrides):
    return EngineConfig(**{"download_timeout_s": 2.0, **overrides})


def test_downloads_and_samples_a_video(server, temp_dir):
    frames = HttpSource().open(f"{server.url}/clip.mp4", PLAN, config())
    assert [frame_number(frame.image) for frame in frames] == [7, 22, 37, 52]
    assert list(temp_dir.iterdir()) == []  # the download is deleted


def test_an_image_url_is_one_frame(server, temp_dir):
    frames = HttpSource().open(f"{server.url}/photo.png", PLAN, config())
    assert [frame.image.shape for frame in frames] == [(80, 120, 3)]


def test_the_type_comes_from_content_type_when_the_url_has_no_extension(server, temp_dir):
    assert len(HttpSource().open(f"{server.url}/media/12345", PLAN, config())) == 1
    assert len(HttpSource().open(f"{server.url}/watch", PLAN, config())) == 4


def test_query_strings_and_redirects_are_followed(server, temp_dir):
    assert len(HttpSource().open(f"{server.url}/clip.mp4?token=abc", PLAN, config())) == 4
    assert len(HttpSource().open(f"{server.url}/moved.mp4", PLAN, config())) == 4


def test_read_frames_picks_the_http_source(server, temp_dir):
    assert len(read_frames(f"{server.url}/clip.mp4", PLAN, config())) == 4


@pytest.mark.parametrize("path, status", [("/missing.mp4", "404"), ("/broken.mp4", "500")])
def test_an_http_error_is_one_media_error(server, temp_dir, path, status):
    with pytest.raises(MediaError, match=f"answered HTTP {status}") as caught:
        HttpSource().open(server.url + path, PLAN, config())
    assert server.url + path in str(caught.value)
    assert list(temp_dir.iterdir()) == []


def test_a_too_large_content_length_is_refused_before_downloading(server, temp_dir):
    with pytest.raises(MediaError, match=r"larger \(50 MB\) than the download limit of 1 MB"):
        HttpSource().open(f"{server.url}/big.mp4", PLAN, config(download_max_mb=1))
    assert list(temp_dir.iterdir()) == []


def test_the_size_limit_holds_without_a_content_length(server, temp_dir):
    with pytest.raises(MediaError, match="larger than the download limit of 0.5 MB"):
        HttpSource().open(f"{server.url}/endless.mp4", PLAN, config(download_max_mb=0.5))
    assert list(temp_dir.iterdir()) == []


def test_a_server_that_stops_sending_times_out(server, temp_dir):
    with pytest.raises(MediaError, match="sent nothing for 0.3 s") as caught:
        HttpSource().open(f"{server.url}/slow.mp4", PLAN, config(download_timeout_s=0.3))
    assert "TRIO_DOWNLOAD_TIMEOUT_S" in str(caught.value)
    assert list(temp_dir.iterdir()) == []


def test_a_refused_connection_is_one_media_error(temp_dir):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MediaError, match="Could not connect"):
        HttpSource().open(f"http://127.0.0.1:{port}/clip.mp4", PLAN, config())


def test_a_corrupt_download_names_the_url_not_the_temporary_file(server, temp_dir):
    url = f"{server.url}/noise.mp4"
    with pytest.raises(MediaError) as caught:
        HttpSource().open(url, PLAN, config())
    assert str(caught.value).startswith(f"'{url}' is not a video")
    assert str(temp_dir) not in str(caught.value)
    assert list(temp_dir.iterdir()) == []
