"""The stream servers serve what they say, read with PyAV itself; and what PyAV raises when a camera fails.

The camera source must handle each of these: a 401 is ``av.error.HTTPUnauthorizedError``,
a wrong path ``HTTPNotFoundError``, a closed port ``av.error.ConnectionRefusedError``, a
port that is not RTSP ``InvalidDataError`` (at once, or after the open timeout when nothing
answers), a camera that dies mid-stream a plain end of the packets (no error at all), and a
stall ``av.error.ExitError`` after about twice the read timeout.
"""

import time

import av
import pytest

from tests.media import frame_number, numbered_clip, numbered_frames
from tests.streams.conftest import APPEARS_AT, SHAPE_FPS, square_visible
from tests.streams.servers import NotRtspServer
from trio_core.testing import free_port

# rtsp_transport=tcp: interleaved in the RTSP connection, as through NAT or a firewall.
# analyzeduration: FFmpeg's open otherwise probes 20 frames first (2.5 s at 8 fps); none are lost either way.
TCP = {"rtsp_transport": "tcp", "analyzeduration": "500000"}


def numbers(container, count: int) -> list[int]:
    """The numbers drawn in the next ``count`` decoded frames."""
    frames = container.decode(video=0)
    return [frame_number(next(frames).to_ndarray(format="rgb24")) for _ in range(count)]


@pytest.fixture
def numbered(tmp_path):
    return numbered_clip(tmp_path / "numbered.mp4", 40, fps=10)


def test_rtsp_plays_the_clip_from_its_start_at_real_time(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip)
    connected = time.monotonic()
    with av.open(camera.url, options=TCP, timeout=(5, 5)) as container:
        frames = enumerate(container.decode(video=0))
        index, frame = next((i, frame) for i, frame in frames if square_visible(frame.to_ndarray(format="rgb24")))
    assert index == APPEARS_AT * SHAPE_FPS
    assert frame.time == pytest.approx(APPEARS_AT)  # pts count from the client's PLAY (the first frame's is None)
    assert APPEARS_AT - 0.5 < time.monotonic() - connected < APPEARS_AT + 1.5


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_rtsp_with_credentials_answers_401_to_anyone_else(rtsp_server, auth):
    camera = rtsp_server(user="cam", password="s3cret", auth=auth)
    for url in (camera.url, camera.url_with("cam", "wrong")):
        with pytest.raises(
            av.error.HTTPUnauthorizedError, match="401"
        ):  # its message carries the URL, password and all
            av.open(url, options=TCP, timeout=(5, 5))
    with av.open(camera.authorized_url, options=TCP, timeout=(5, 5)) as container:
        assert next(container.decode(video=0)).width == 320  # the pattern, without a clip


def test_what_pyav_raises_for_a_wrong_path_a_closed_port_and_a_port_that_is_not_rtsp(rtsp_server, not_rtsp_port):
    camera = rtsp_server()
    with pytest.raises(av.error.HTTPNotFoundError):
        av.open(camera.url.replace("/stream", "/nothing"), options=TCP, timeout=(5, 5))
    with pytest.raises(av.error.ConnectionRefusedError):  # also the builtin ConnectionRefusedError
        av.open(f"rtsp://127.0.0.1:{free_port()}/stream", options=TCP, timeout=(5, 5))
    with pytest.raises(av.error.InvalidDataError):  # a ValueError too
        av.open(f"rtsp://127.0.0.1:{not_rtsp_port}/stream", options=TCP, timeout=(5, 5))
    with NotRtspServer(reply=None) as silent:
        started = time.monotonic()
        with pytest.raises(av.error.InvalidDataError):  # not a timeout error: the open timeout ends the handshake
            av.open(silent.url, options=TCP, timeout=(1, 1))
        assert 0.9 < time.monotonic() - started < 2.5


def test_a_killed_camera_ends_the_stream_and_restarts_on_its_port_from_the_clip_start(rtsp_server, numbered):
    camera = rtsp_server(clip=numbered)
    with av.open(camera.url, options=TCP, timeout=(5, 5)) as container:
        assert numbers(container, 5) == [0, 1, 2, 3, 4]
        camera.kill()
        assert len(list(container.demux(video=0))) < 5  # what was in flight, then the end: no error is raised
    with pytest.raises(av.error.ConnectionRefusedError):
        av.open(camera.url, options=TCP, timeout=(5, 5))
    camera.start()
    with av.open(camera.url, options=TCP, timeout=(5, 5)) as container:
        assert numbers(container, 3) == [0, 1, 2]  # a new client starts at the first frame


def test_a_paused_camera_stalls_a_read_until_the_timeout(rtsp_server):
    camera = rtsp_server(fps=10)
    with av.open(camera.url, options=TCP, timeout=(5, 1)) as container:
        packets = container.demux(video=0)
        next(packets)
        camera.pause()
        stalled = time.monotonic()
        with pytest.raises(
            av.error.ExitError
        ):  # "Immediate exit requested"; FFmpeg's timeout option gives TimeoutError
            for _ in packets:
                pass
        # FFmpeg's RTSP demuxer gives up after twice the read timeout (measured: 2 s for 1, 4 for 2, 8 for 4).
        assert 1.0 < time.monotonic() - stalled < 3.5
    camera.resume()
    with av.open(camera.url, options=TCP, timeout=(5, 5)) as container:
        assert next(container.decode(video=0))


def test_mjpeg_serves_each_client_the_frames_in_order_at_their_rate(mjpeg_server):
    camera = mjpeg_server(numbered_frames(10), fps=20)
    for _ in range(2):
        started = time.monotonic()
        with av.open(camera.url, timeout=(5, 5)) as container:  # FFmpeg recognises mpjpeg by itself
            assert container.format.name == "mpjpeg"
            assert numbers(container, 13) == [*range(10), 9, 9, 9]  # then it holds the last frame
        assert time.monotonic() - started > 12 / 20 - 0.1


def test_mjpeg_that_hangs_up_ends_in_an_io_error(mjpeg_server):
    camera = mjpeg_server(numbered_frames(5), fps=20, hold=False)
    with av.open(camera.url, format="mpjpeg", timeout=(5, 5)) as container:
        assert numbers(container, 5) == [0, 1, 2, 3, 4]
        with pytest.raises(av.error.OSError, match="Input/output error"):
            next(container.decode(video=0))


def test_hls_is_live_and_ends_with_the_playlist(hls_stream):
    stream = hls_stream(numbered_frames(16), fps=8)
    assert stream.url.endswith(".m3u8") and "#EXT-X-ENDLIST" not in stream.playlist.read_text()
    with av.open(stream.url, timeout=(5, 5)) as container:
        assert container.format.name == "hls"
        assert numbers(container, 12) == list(range(12))  # 1.5 s: it waits for segments as they are written
        stream.end()
        rest = [frame_number(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]
    assert rest[:4] == [12, 13, 14, 15] and set(rest[4:]) <= {15}  # the last frame held until the end
