"""Webcams. These machines have no camera, so the tests read FFmpeg's virtual ``lavfi`` input device
through the very code a webcam goes through (``webcam://`` parsing, ``av.open`` of an input device
with its format and options, decoding, sampling by timestamps, reconnecting); only the device
format differs from a real camera's (v4l2, avfoundation, dshow)."""

import sys

import pytest

from tests.cli import run_trio, watch_until
from tests.watch.conftest import ORANGE
from trio_core.config import EngineConfig
from trio_core.errors import MediaError
from trio_core.frames import Frame, SamplingPlan, SourceNotice
from trio_core.sources.webcam import WebcamSource, parse_webcam

# A test pattern at 10 frames a second; ",realtime" makes FFmpeg hand them out at that pace, as a camera does.
PATTERN = "webcam://testsrc2=size=320x240:rate=10?format=lavfi"
LIVE_PATTERN = "webcam://testsrc2=size=320x240:rate={rate},realtime?format=lavfi"


def test_webcam_numbers_map_to_each_platforms_capture_api(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert parse_webcam("webcam://0").file == "/dev/video0" and parse_webcam("webcam://2").format == "v4l2"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert (parse_webcam("webcam://1").format, parse_webcam("webcam://1").file) == ("avfoundation", "1:none")
    device = parse_webcam("webcam:///dev/video4?format=v4l2&input_format=mjpeg&video_size=1280x720")
    assert (device.file, device.options) == ("/dev/video4", {"input_format": "mjpeg", "video_size": "1280x720"})
    with pytest.raises(MediaError, match="parameters trio does not know: fps"):
        parse_webcam("webcam://0?fps=30")


def test_a_capture_device_gives_frames_sampled_by_their_timestamps():
    frames = list(WebcamSource().open(PATTERN, SamplingPlan(fps=2, max_frames=6, max_side=160), EngineConfig()))
    assert all(isinstance(frame, Frame) for frame in frames)
    first = frames[0].timestamp  # seconds since the device began to open: the open itself takes a moment
    assert [round(frame.timestamp - first, 3) for frame in frames] == [
        0.0,
        0.5,
        1.0,
        1.5,
        2.0,
        2.5,
    ]  # 2 of the 10 a second
    assert {frame.image.shape for frame in frames} == {(120, 160, 3)}  # scaled to max_side at decode time
    assert all(frame.captured is not None for frame in frames)


def test_a_device_that_ends_is_reopened_and_time_goes_on():
    """A 1-second pattern ends like an unplugged camera; the source reopens it and keeps counting time."""
    config = EngineConfig(source_settings={"webcam": {"backoff_initial_s": 0.05, "backoff_jitter": 0}})
    source = WebcamSource().open(
        "webcam://testsrc2=size=64x48:rate=10:d=1?format=lavfi", SamplingPlan(fps=5, max_frames=12), config
    )
    items = list(source)
    notices = [item for item in items if isinstance(item, SourceNotice)]
    assert [notice.kind for notice in notices[:2]] == ["reconnecting", "reconnected"]
    assert notices[0].details["attempt"] == 1 and notices[0].details["delay_s"] == 0.05
    assert notices[0].details["reason"] == "the stream ended"
    times = [item.timestamp for item in items if isinstance(item, Frame)]
    assert len(times) == 12 and times == sorted(times) and len(set(times)) == 12


def test_no_reconnect_ends_the_source_when_the_device_does():
    config = EngineConfig(source_settings={"webcam": {"reconnect": False}})
    source = WebcamSource().open("webcam://testsrc2=size=64x48:rate=10:d=1?format=lavfi", SamplingPlan(fps=5), config)
    items = list(source)
    assert len(items) == 5 and all(isinstance(item, Frame) for item in items)


def test_a_webcam_that_does_not_exist_is_one_sentence_before_any_model_loads():
    result = run_trio("webcam", "-s", "7", "-w", ORANGE, "--model", "no-such-model")  # the model is never loaded
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: There is no webcam 7: this machine has ")
    assert "trio webcam --list" in result.stderr


def test_webcam_list_lists_or_says_there_are_none():
    result = run_trio("webcam", "--list")
    assert result.returncode == 0
    assert result.stdout or result.stderr.strip() == "No cameras found."


def test_trio_webcam_watches_a_device_as_json_lines():
    """`trio webcam -s DEVICE` on a live pattern: started, results for each analysed frame, ended on Ctrl-C."""
    device = LIVE_PATTERN.format(rate=10).removeprefix("webcam://")
    events, status = watch_until(
        "webcam", "-s", device, "-w", ORANGE, "--model", "trio-tiny", "--max-tokens", "4", "--fps", "2",
        until=lambda events: sum(event["type"] == "result" for event in events) >= 3,
    )  # fmt: skip
    assert status == 130
    assert events[0]["type"] == "started" and events[0]["source"].startswith("webcam://testsrc2")
    results = [event for event in events if event["type"] == "result"]
    assert len(results) >= 3 and all(event["yes"] is False for event in results)  # a test pattern has no square
    assert all(event["lag_s"] >= 0 for event in results)
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "interrupted"


def test_a_watch_slower_than_the_camera_drops_frames_and_its_lag_stays_one_inference(tiny_engine):
    """30 frames a second asked for, more than trio-tiny answers here: the newest frame is analysed, the rest dropped.

    The lag of a result is the time its frame waited for the model (at most the inference before
    it, since a newer frame replaces a waiting one) plus its own inference: a backlog would
    instead grow it with every frame.
    """
    watch = tiny_engine.watch(LIVE_PATTERN.format(rate=30), [ORANGE], fps=30)
    events = []
    for event in watch:
        events.append(event.to_dict())
        if sum(e["type"] == "result" for e in events) == 40:
            watch.stop()
    results = [event for event in events if event["type"] == "result"]
    ended = events[-1]
    assert ended["type"] == "ended" and ended["reason"] == "stopped" and ended["frames_dropped"] > 0
    slack = 0.5  # decoding, converting and the scheduler of a shared 2-core machine
    for before, result in zip(results, results[1:], strict=False):
        assert result["lag_s"] <= (before["latency_ms"] + result["latency_ms"]) / 1000 + slack
