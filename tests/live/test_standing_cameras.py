"""A standing watch of a real RTSP camera (GStreamer's, on loopback) that is off at boot, then fails for good."""

import json

from tests.streams.conftest import SHAPE_FPS
from tests.watch.conftest import ORANGE
from tests.watch.test_standing import supervisor, wait_for
from trio_core import TrioCore
from trio_core.testing.rtsp_camera import RtspCamera

FAST = {"backoff_initial_s": 0.2, "backoff_max_s": 0.5, "open_timeout_s": 3, "read_timeout_s": 2}


def test_a_camera_off_at_boot_is_retried_and_one_that_fails_for_good_is_restarted(tmp_path, gstreamer, shape_clip):
    camera = RtspCamera(shape_clip, fps=SHAPE_FPS, user="cam", password="hunter2")
    path = tmp_path / "watches.toml"
    path.write_text(f"""
[watches.door]
source = "rtsp://cam:${{CAMERA_PASSWORD}}@127.0.0.1:{camera.port}/stream"
conditions = [{{ id = "orange", question = "{ORANGE}" }}]
fps = 2
""")
    # Reconnecting gives up after one failed attempt: the watch then ends in an error, and the supervisor restarts it.
    engine = TrioCore(model="trio-tiny", max_tokens=4, dedup_threshold=0,
                      source_settings={"stream": {**FAST, "reconnect_attempts": 1}}).load()  # fmt: skip
    running, events = supervisor(path, engine, environ={"CAMERA_PASSWORD": "hunter2"})
    running.start()
    try:
        door = running.watches["door"]
        wait_for(lambda: door.state == "retrying")
        assert door.error.startswith(f"Nothing is listening at 127.0.0.1:{camera.port}")
        camera.start()  # the camera boots: the next retry opens it
        wait_for(lambda: any(event.type == "alert" for event in events), timeout=90)
        assert door.state == "running" and door.restarts == 0
        camera.kill()
        wait_for(lambda: door.restarts == 1 and door.state == "retrying", timeout=60)
        assert any(event.type == "error" for event in events)
        seen = len(events)
        camera.start()
        wait_for(lambda: door.state == "running" and any(e.type == "result" for e in events[seen:]), timeout=90)
        assert "hunter2" not in json.dumps(running.describe()) + json.dumps([e.to_dict() for e in events])
    finally:
        running.stop_all()
        camera.stop()
    assert door.state == "stopped"
