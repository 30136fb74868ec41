"""Camera streams through trio's stream source and watch, against a real RTSP server (GStreamer's) on loopback."""

import json
import socket

import numpy as np
import pytest

from tests.cli import watch_until
from tests.streams.conftest import APPEARS_AT, SHAPE_FPS
from tests.watch.conftest import ORANGE
from trio_core.config import EngineConfig
from trio_core.errors import MediaError
from trio_core.frames import Frame, SamplingPlan, SourceNotice
from trio_core.sources.stream import StreamSource

PLAN = SamplingPlan(fps=4, max_frames=6, max_side=112)
FAST = {"stream": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "open_timeout_s": 5, "read_timeout_s": 2}}


def read(url, plan=PLAN, **settings):
    return list(StreamSource().open(url, plan, EngineConfig(source_settings={"stream": settings} if settings else {})))


def test_an_rtsp_stream_gives_live_frames_at_the_rate_asked(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS)
    frames = read(camera.url)
    assert len(frames) == 6 and all(isinstance(frame, Frame) for frame in frames)
    gaps = [b.timestamp - a.timestamp for a, b in zip(frames, frames[1:], strict=False)]
    assert all(0.2 <= gap <= 0.3 for gap in gaps)  # 4 a second of the stream's 8, by its timestamps
    assert {frame.image.shape for frame in frames} == {(112, 112, 3)}


def test_credentials_open_a_protected_camera_and_a_wrong_password_is_one_sentence(rtsp_server):
    camera = rtsp_server(user="admin", password="s3cret-pw", auth="digest")
    assert len(read(camera.authorized_url, SamplingPlan(fps=2, max_frames=2))) == 2
    with pytest.raises(MediaError) as refused:
        read(camera.url_with("admin", "wrong-pw"))
    message = str(refused.value)
    assert message.startswith(f"The camera at 127.0.0.1:{camera.port} refused the user name or password (401")
    assert "wrong-pw" not in message and "s3cret" not in message


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("rtsp://127.0.0.1:{free}/stream", "Nothing is listening at 127.0.0.1:{free} (connection refused)"),
        ("rtsp://127.0.0.1:{not_rtsp}/stream", "127.0.0.1:{not_rtsp} answered, but not as an RTSP stream"),
        ("rtsp://cam:pw@no-such-camera.invalid/stream", "The host name 'no-such-camera.invalid' is not known"),
    ],
)
def test_each_way_a_stream_fails_to_open_is_one_sentence(target, expected, not_rtsp_port, monkeypatch):
    from trio_core.testing import free_port

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # no name is looked up on a real DNS server: tests stay on loopback
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    values = {"free": free_port(), "not_rtsp": not_rtsp_port}
    with pytest.raises(MediaError) as caught:
        read(target.format(**values), open_timeout_s=5)
    assert str(caught.value).startswith(expected.format(**values))
    assert "pw@" not in str(caught.value)


def test_a_camera_that_dies_is_reconnected_and_nothing_from_before_is_analysed_after(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS)
    source = StreamSource().open(camera.url, SamplingPlan(fps=4, max_frames=1000), EngineConfig(source_settings=FAST))
    items, after = [], None  # after: how many frames came once the source said it was back
    for item in source:
        items.append(item)
        if len(items) == 4:
            camera.kill()  # mid-stream: the connection drops
            camera.start()  # the camera comes back on the same port
        if isinstance(item, SourceNotice) and item.kind == "reconnected":
            after = 0
        elif after is not None:
            after += 1
            if after == 4:
                break
    source.close()
    kinds = [item.kind for item in items if isinstance(item, SourceNotice)]
    assert kinds[0] == "reconnecting" and kinds[-1] == "reconnected"
    assert set(kinds) == {"reconnecting", "reconnected"}
    times = [item.timestamp for item in items if isinstance(item, Frame)]
    assert times == sorted(times)  # time goes on across the outage


def test_a_stream_that_stalls_without_closing_is_caught_by_the_read_timeout(rtsp_server):
    camera = rtsp_server()
    settings = {"stream": {**FAST["stream"], "read_timeout_s": 1.5}}
    source = StreamSource().open(
        camera.url, SamplingPlan(fps=4, max_frames=1000), EngineConfig(source_settings=settings)
    )
    items = []
    for item in source:
        items.append(item)
        if len(items) == 3:
            camera.pause()  # SIGSTOP: the TCP connection stays open, nothing more arrives
        if isinstance(item, SourceNotice) and item.kind == "reconnecting":
            camera.resume()
        if isinstance(item, SourceNotice) and item.kind == "reconnected":
            break
    source.close()
    reconnecting = next(item for item in items if isinstance(item, SourceNotice))
    assert reconnecting.details["reason"] == f"'{camera.url}' sent nothing for 1.5 s"


def test_mjpeg_and_hls_over_http_are_live_streams(mjpeg_server, hls_stream, shape_clip):
    mjpeg = mjpeg_server(clip=shape_clip)
    assert StreamSource().can_open(mjpeg.url)
    assert len(read(mjpeg.url, SamplingPlan(fps=4, max_frames=3))) == 3
    hls = hls_stream(clip=shape_clip)
    assert hls.url.endswith(".m3u8") and StreamSource().can_open(hls.url)
    assert len(read(hls.url, SamplingPlan(fps=4, max_frames=3))) == 3
    assert not StreamSource().can_open("http://127.0.0.1/clip.mp4")  # a file to download, not a stream


def test_trio_watch_over_rtsp_is_clear_before_the_shape_and_alerts_after(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS, user="cam", password="hunter2")
    events, _ = watch_until(
        "watch", camera.authorized_url, "-w", ORANGE, "--model", "trio-tiny", "--fps", "2", "--max-tokens", "4",
        until=lambda events: events[-1]["type"] in ("alert", "ended"),
    )  # fmt: skip
    assert "hunter2" not in json.dumps(events)
    assert events[0]["type"] == "started" and events[0]["source"] == f"rtsp://***@127.0.0.1:{camera.port}/stream"
    results = [event for event in events if event["type"] == "result"]
    before = [event for event in results if event["pts"] < APPEARS_AT - 0.5]
    assert before and not any(event["yes"] for event in before)
    alerts = [event for event in events if event["type"] == "alert"]
    assert alerts and APPEARS_AT - 0.5 <= alerts[0]["pts"] <= APPEARS_AT + 1.5
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "interrupted"


def test_a_watch_rides_out_a_camera_restart_and_analyses_nothing_from_before_it(rtsp_server):
    from trio_core import TrioCore

    camera = rtsp_server()  # the moving-ball pattern: every frame differs
    engine = TrioCore(model="trio-tiny", max_tokens=4, dedup_threshold=0, source_settings=FAST).load()
    watch = engine.watch(camera.url, [ORANGE], fps=4)
    events, killed = [], False
    for event in watch:
        events.append(event.to_dict())
        kinds = [e["type"] for e in events]
        if kinds.count("result") == 3 and not killed:
            camera.kill()  # mid-stream
            camera.start()  # back on the same port
            killed = True
        if "reconnected" in kinds and kinds[kinds.index("reconnected") :].count("result") == 3:
            watch.stop()
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "ended" and kinds[-2] != "error"
    lost, back = kinds.index("reconnecting"), kinds.index("reconnected")
    assert events[lost]["attempt"] == 1 and {"delay_s", "reason"} <= set(events[lost])
    before = [e["pts"] for e in events[:lost] if e["type"] == "result"]
    after = [e["pts"] for e in events[back:] if e["type"] == "result"]
    assert len(after) >= 3
    # Frames are timed from the first connection on: one from before the outage would be older than it.
    assert min(after) >= max(before) + events[back]["outage_s"] * 0.5


def test_a_question_about_a_stream_that_drops_mid_clip_gets_the_frames_not_the_notices(mjpeg_server):
    from trio_core.sources import read_frames

    pictures = [np.full((48, 64, 3), 12 * index, np.uint8) for index in range(20)]
    camera = mjpeg_server(pictures, fps=20, hold=False)  # hangs up after 1 s; a new client starts again
    config = EngineConfig(source_settings={"stream": {"backoff_initial_s": 0.05}})
    frames = read_frames(camera.url, SamplingPlan(fps=20, max_frames=30, max_side=64), config)
    assert len(frames) == 30 and all(isinstance(frame, Frame) for frame in frames)


def test_mjpeg_frames_are_timed_by_their_arrival(mjpeg_server, shape_clip):
    """MJPEG carries no timestamps (FFmpeg would count its frames at 25 a second, whatever the camera sends)."""
    camera = mjpeg_server(clip=shape_clip, fps=SHAPE_FPS)
    frames = read(camera.url, SamplingPlan(fps=2, max_frames=4, max_side=64))
    gaps = [b.timestamp - a.timestamp for a, b in zip(frames, frames[1:], strict=False)]
    assert all(0.4 <= gap <= 0.7 for gap in gaps)  # 2 a second of real time, not of a 25 fps count


def test_settings_for_a_source_that_does_not_exist_are_refused():
    from trio_core.errors import ConfigError
    from trio_core.sources import read_frames

    with pytest.raises(ConfigError, match="--source strem: there is no frame source called 'strem'"):
        read_frames("x.mp4", PLAN, EngineConfig(source_settings={"strem": {"read_timeout_s": 5}}))
