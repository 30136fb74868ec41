"""`trio cam`: a camera found and opened over ONVIF (a responder on loopback) that streams from a real RTSP server."""

import json

from tests.cameras.onvif_responder import FakeProfile, OnvifResponder
from tests.cli import run_trio, watch_until
from tests.streams.conftest import APPEARS_AT, SHAPE_FPS
from tests.watch.conftest import ORANGE


def test_trio_cam_turns_host_and_password_into_the_stream_and_watches_it(rtsp_server, shape_clip):
    camera = rtsp_server(clip=shape_clip, fps=SHAPE_FPS, user="admin", password="door-pw")
    # ONVIF hands out URLs without the password; the main stream here goes nowhere, the sub stream is the camera.
    main = FakeProfile("mainStream", "Profile_1", 1920, 1080, uri="rtsp://127.0.0.1:9/nowhere")
    sub = FakeProfile("subStream", "Profile_2", 224, 224, uri=camera.url)
    with OnvifResponder(user="admin", password="door-pw", profiles=(main, sub)) as onvif:
        events, _ = watch_until(
            "cam", "--host", "127.0.0.1", "--onvif-port", str(onvif.http_port), "-u", "admin", "-p", "door-pw",
            "--profile", "subStream", "-w", ORANGE, "--model", "trio-tiny", "--fps", "2", "--max-tokens", "4",
            until=lambda events: events[-1]["type"] in ("alert", "ended"),
        )  # fmt: skip
    assert "door-pw" not in json.dumps(events)
    assert events[0]["source"] == f"rtsp://***@127.0.0.1:{camera.port}/stream"
    alerts = [event for event in events if event["type"] == "alert"]
    assert alerts and alerts[0]["pts"] >= APPEARS_AT - 0.5


def test_a_wrong_camera_password_is_one_sentence_without_it():
    with OnvifResponder(user="admin", password="door-pw") as onvif:
        result = run_trio(
            "cam", "--host", "127.0.0.1", "--onvif-port", str(onvif.http_port), "-p", "not-the-pw", "-w", ORANGE,
            "--model", "trio-tiny",
        )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: The camera at 127.0.0.1:{onvif.http_port} refused the user name or password (ONVIF)."
    )
    assert "not-the-pw" not in result.stderr + result.stdout


def test_discover_lists_each_cameras_address_maker_model_and_profiles():
    with OnvifResponder(anonymous=True) as onvif:
        listed = run_trio("cam", "--discover", "--discover-address", onvif.udp_address, "--discover-timeout", "2")
        as_json = run_trio("cam", "--discover", "--discover-address", onvif.udp_address, "--discover-timeout", "2",
                           "--json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == (
        f"127.0.0.1:{onvif.http_port}  Acme AC-100  [mainStream 1920x1080 H264, subStream 640x360 H264]"
    )
    (camera,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert camera["manufacturer"] == "Acme" and [p["name"] for p in camera["profiles"]] == ["mainStream", "subStream"]


def test_cam_needs_one_way_to_the_camera():
    result = run_trio("cam", "-w", ORANGE)
    assert result.returncode == 2 and "Give the camera as --rtsp URL or as --host ADDRESS" in result.stderr
