"""What tests (trio's and plugin authors') and benchmarks use; product code never imports it.

- :mod:`.pytest_plugin`: the ``trio_checkpoint`` and ``trio_plugin`` fixtures, loaded by
  pytest through trio-core's ``pytest11`` entry point;
- :mod:`.checkpoints`: random-weight checkpoints of any family, written by a backend;
- :mod:`.loopback`: a real Mosquitto broker, an MQTT subscriber and a signed-webhook receiver
  on loopback;
- :mod:`.rtsp_camera`: a live RTSP camera simulated from a video file (GStreamer's RTSP server,
  run by the system's Python from :mod:`.rtsp_camera_gst`), which can also fail like one;
- :mod:`.ports`: free loopback ports.

Nothing here listens beyond 127.0.0.1.
"""

from __future__ import annotations

from .checkpoints import checkpoint_writer
from .ports import free_port

__all__ = ["checkpoint_writer", "free_port"]
