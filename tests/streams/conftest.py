"""Live-stream servers on loopback for the camera tests, and a clip in which an orange square appears.

The server fixtures are factories: call one with the server's options and get it started;
every server a test started is stopped when the test ends::

    def test_reconnects(rtsp_server, shape_clip):
        camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS)
        ...
        camera.kill()
        camera.start()  # the same port

RTSP needs GStreamer's RTSP server in Debian's Python (``.ci/run`` installs the packages);
without it the RTSP tests fail, not skip, so that a broken CI setup cannot pass unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.media import write_clip
from tests.streams.servers import HlsStream, MjpegServer, NotRtspServer, RtspCamera, gstreamer_problem
from tests.watch.conftest import demo_frames

APPEARS_AT = 4.0  # seconds into shape_clip: from this frame on, the orange square is there
SHAPE_SECONDS = 10.0  # shape_clip's length; the servers hold its last frame (the square) after it
SHAPE_FPS = 8


def square_visible(image: np.ndarray) -> bool:
    """Whether ``image`` (``(H, W, 3)`` uint8 RGB, as decoded from any of these streams) shows the orange square."""
    red, green, blue = (image[..., channel].astype(np.int16) for channel in range(3))
    orange = (red > 180) & (green > 80) & (green < 180) & (blue < 90)  # the square is about (252, 128, 2)
    return int(orange.sum()) > 100  # the 224 x 224 demo's square covers about 680 pixels


@pytest.fixture(scope="session")
def shape_clip(tmp_path_factory):
    """An MP4 at SHAPE_FPS: APPEARS_AT seconds of the demo's empty dark background, then its moving orange square.

    The bundled clip's 8 frames (4 a second) shown twice each and played three times: 6 s of
    the square, 10 s in all, 224 x 224.
    """
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    square = [frame for frame in frames for _ in range(SHAPE_FPS // 4)] * 3
    path = tmp_path_factory.mktemp("streams") / "shape.mp4"
    return write_clip(
        path, [empty] * round(APPEARS_AT * SHAPE_FPS) + square, fps=SHAPE_FPS, keyframe_interval=SHAPE_FPS
    )


@pytest.fixture(scope="session")
def gstreamer() -> None:
    """Fails every RTSP test, with what to install, when Debian's Python cannot run the RTSP server."""
    problem = gstreamer_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def rtsp_server(gstreamer):
    """``rtsp_server(clip=None, *, port=None, path="/stream", fps=None, width=None, height=None,
    user=None, password=None, auth="basic") -> RtspCamera``, started (see :class:`RtspCamera`)."""
    servers: list[RtspCamera] = []

    def start(clip=None, **options) -> RtspCamera:
        servers.append(RtspCamera(clip, **options))
        return servers[-1].start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def mjpeg_server():
    """``mjpeg_server(frames=None, *, clip=None, fps=None, hold=True, path="/video.mjpg") -> MjpegServer``, started."""
    servers: list[MjpegServer] = []

    def start(frames=None, **options) -> MjpegServer:
        servers.append(MjpegServer(frames, **options))
        return servers[-1].start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hls_stream(tmp_path):
    """``hls_stream(frames=None, *, clip=None, fps=None, segment_seconds=1.0, window=6) -> HlsStream``,
    started (its first segment listed), written under the test's ``tmp_path``."""
    streams: list[HlsStream] = []

    def start(frames=None, **options) -> HlsStream:
        options.setdefault("directory", tmp_path / f"hls{len(streams)}")
        streams.append(HlsStream(frames, **options))
        return streams[-1].start()

    yield start
    for stream in streams:
        stream.stop()


@pytest.fixture
def not_rtsp_port():
    """A port on 127.0.0.1 where a web page, not an RTSP server, answers (``rtsp://127.0.0.1:PORT/stream``)."""
    with NotRtspServer() as server:
        yield server.port
