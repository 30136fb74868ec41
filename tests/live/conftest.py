"""The live tests share trio-tiny with the watch tests, and the stream servers of tests/streams."""

from tests.streams.conftest import (  # noqa: F401 - fixtures
    gstreamer,
    hls_stream,
    mjpeg_server,
    not_rtsp_port,
    rtsp_server,
    shape_clip,
)
from tests.watch.conftest import tiny_engine  # noqa: F401 - a fixture
