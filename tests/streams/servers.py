"""Real live-stream servers on loopback for the camera tests: RTSP, MJPEG over HTTP, HLS, and a port that is not RTSP.

Each one serves at real-time pace and starts a client at the clip's first frame where the
protocol allows it (RTSP and MJPEG: every client gets its own stream from frame 0; HLS is one
stream for everyone that began when the server did). After the clip's last frame each one
holds that frame, repeated at the same rate, like a camera that keeps looking at a scene.

What PyAV 18 (FFmpeg 8) does against them, for the code that reads them:

- RTSP, ``av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5))``. The first
  decoded frame has ``pts`` None (later ones count from the client's PLAY). Opening blocks
  until FFmpeg has probed the stream: 20 frames by default (5 s at 4 fps, 2.5 s at 8 fps;
  ``"fpsprobesize": "0"`` still waits for 7, H.264's decode-delay guess), and
  ``"analyzeduration": "500000"`` cuts it to about 0.75 s. No frame is lost meanwhile: they
  arrive in a burst. Failures (``test_servers.py`` checks each): 401
  ``av.error.HTTPUnauthorizedError`` (its message has the URL, credentials included), a
  wrong path ``HTTPNotFoundError``, nothing listening ``av.error.ConnectionRefusedError``, a
  port that is not RTSP ``InvalidDataError`` (at once, or after the open timeout if nothing
  answers), a server killed mid-stream a plain end of the packets with no error, a stalled
  one ``av.error.ExitError`` after about twice the read timeout (FFmpeg's own ``timeout``
  option instead: ``av.error.TimeoutError``, also after twice its value).
- MJPEG, ``av.open(url)``: FFmpeg recognises the multipart stream by itself (``format="mpjpeg"``
  works too). The frames carry no timestamps: FFmpeg numbers them as if at 25 fps. A server
  that hangs up ends in ``av.error.OSError`` (EIO), not a clean end.
- HLS, ``av.open(url)`` on the ``.m3u8``: FFmpeg starts three segments before the live edge,
  and reads a playlist that got ``#EXT-X-ENDLIST`` to a clean end.

Without ``fps``, a clip plays at its own rate, and a list of frames at 10 a second.
"""

from __future__ import annotations

import http.server
import io
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from trio_core.testing.rtsp_camera import RtspCamera, gstreamer_problem


def clip_frames(clip: str | Path) -> tuple[list[np.ndarray], float]:
    """A clip's frames as ``(H, W, 3)`` uint8 RGB, and its frame rate."""
    import av

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate or 10)


def _frames_and_rate(frames, clip, fps) -> tuple[list[np.ndarray], float]:
    if (frames is None) == (clip is None):
        raise ValueError("give either frames or clip")
    if clip is not None:
        frames, clip_fps = clip_frames(clip)
        fps = fps or clip_fps
    if not frames:
        raise ValueError("there are no frames to serve")
    return list(frames), float(fps or 10)


class _LoopbackHttp:
    """An HTTP server on 127.0.0.1 in a thread of this process."""

    def _serve(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.stopping = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def _shut(self) -> None:
        self.stopping.set()  # handlers still streaming to a client end on their next frame
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


class MjpegServer(_LoopbackHttp):
    """An HTTP MJPEG camera on 127.0.0.1: ``multipart/x-mixed-replace`` JPEG frames at ``fps``.

    Serves ``frames`` (``(H, W, 3)`` uint8 RGB) or a ``clip``'s frames (at the clip's rate
    unless ``fps`` is given), each client from the first frame; after the last it holds that
    frame (``hold=True``) or ends the response (``hold=False``, a camera that hangs up).
    PyAV opens :attr:`url` with ``av.open(url)``: FFmpeg's probe recognises the ``--frame``
    boundaries as ``mpjpeg`` (``format="mpjpeg"`` works as well). MJPEG carries no
    timestamps: a reader has to take the time a frame arrives.
    """

    BOUNDARY = "frame"

    def __init__(
        self,
        frames: Sequence[np.ndarray] | None = None,
        *,
        clip: str | Path | None = None,
        fps: float | None = None,
        hold: bool = True,
        path: str = "/video.mjpg",
        quality: int = 90,
    ):
        from PIL import Image

        frames, self.fps = _frames_and_rate(frames, clip, fps)
        self.jpegs = []
        for image in frames:
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=quality)
            self.jpegs.append(buffer.getvalue())
        self.hold, self.path = hold, path
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> MjpegServer:
        server = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                if self.path != server.path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={server.BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                server._stream_to(self.wfile)

        self._serve(Handler)
        return self

    def _stream_to(self, out) -> None:
        start = time.monotonic()
        index = 0
        while not self.stopping.is_set():
            if index >= len(self.jpegs) and not self.hold:
                return
            jpeg = self.jpegs[min(index, len(self.jpegs) - 1)]
            delay = start + index / self.fps - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
            head = f"--{self.BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            try:
                out.write(head.encode() + jpeg + b"\r\n")
                out.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client left
            index += 1

    def stop(self) -> None:
        if self.port is not None:
            self._shut()
            self.port = None


class HlsStream(_LoopbackHttp):
    """A live HLS stream on 127.0.0.1: H.264 segments written at real-time pace by PyAV, served by ``http.server``.

    A writer thread encodes ``frames`` or a ``clip``'s frames as they would come from a camera
    (frame ``i`` at ``i / fps`` seconds after :meth:`start`, then the last frame held), into
    ``segment_seconds`` segments under ``directory``; the playlist :attr:`url` (``.m3u8``)
    keeps the last ``window`` of them and has no ``#EXT-X-ENDLIST`` until :meth:`end`. It is
    one stream for every client, already under way when a client comes: FFmpeg starts three
    segments before the live edge. :meth:`start` returns once the first segment is listed.
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray] | None = None,
        *,
        clip: str | Path | None = None,
        fps: float | None = None,
        segment_seconds: float = 1.0,
        window: int = 6,
        directory: str | Path | None = None,
        ready_timeout: float = 30.0,
    ):
        self.frames, self.fps = _frames_and_rate(frames, clip, fps)
        self.segment_seconds, self.window, self.ready_timeout = segment_seconds, window, ready_timeout
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else None
        self.port: int | None = None
        self.error: BaseException | None = None

    @property
    def playlist(self) -> Path:
        return self.directory / "stream.m3u8"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.m3u8"

    def start(self) -> HlsStream:
        if self._own_directory:
            self.directory = Path(tempfile.mkdtemp(prefix="hls-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        directory = str(self.directory)

        class Handler(_QuietHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory, **kwargs)

        self._ending = threading.Event()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()
        self._serve(Handler)
        deadline = time.monotonic() + self.ready_timeout
        while "#EXTINF" not in self._playlist_text():
            if self.error is not None or not self._writer.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the HLS writer listed no segment within {self.ready_timeout:g} s: {self.error!r}")
            time.sleep(0.05)
        return self

    def _playlist_text(self) -> str:
        try:
            return self.playlist.read_text()
        except FileNotFoundError:
            return ""

    def _write(self) -> None:
        import av

        try:
            options = {
                "hls_time": str(self.segment_seconds),
                "hls_list_size": str(self.window),
                # temp_file: segments and playlist appear whole (renamed), never half-written to a client
                "hls_flags": "delete_segments+temp_file+independent_segments",
            }
            with av.open(str(self.playlist), "w", format="hls", options=options) as container:
                rate = Fraction(self.fps).limit_denominator(1001)
                stream = container.add_stream(
                    "libx264", rate=rate, options={"tune": "zerolatency", "preset": "ultrafast"}
                )
                stream.height, stream.width = self.frames[0].shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.codec_context.gop_size = max(1, round(self.fps * self.segment_seconds))
                start = time.monotonic()
                index = 0
                while not self._ending.is_set():
                    delay = start + index / self.fps - time.monotonic()
                    if delay > 0 and self._ending.wait(delay):
                        break
                    image = self.frames[min(index, len(self.frames) - 1)]
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                    frame.pts, frame.time_base = index, 1 / rate
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    index += 1
                for packet in stream.encode():
                    container.mux(packet)
        except BaseException as error:  # seen by start(), or by a test reading .error
            self.error = error

    def end(self) -> None:
        """The broadcast ends: the last segment is written and the playlist gets ``#EXT-X-ENDLIST``; still served."""
        if self.port is not None and self._writer.is_alive():
            self._ending.set()
            self._writer.join()

    def stop(self) -> None:
        if self.port is not None:
            self.end()
            self._shut()
            self.port = None
        if self._own_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


class NotRtspServer:
    """A TCP port on 127.0.0.1 where something other than an RTSP server listens.

    Every connection gets ``reply`` (an HTTP page by default, as when the URL points at a
    camera's web interface) and is closed; with ``reply=None`` it is accepted and then never
    answered (a service that hangs), until :meth:`stop`.
    """

    PAGE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n\r\n<html>not a camera</html>\r\n"

    def __init__(self, reply: bytes | None = PAGE):
        self.reply = reply
        self.port: int | None = None
        self._held: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def start(self) -> NotRtspServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self.reply is None:
                self._held.append(connection)
                continue
            with connection:
                try:
                    connection.settimeout(1)
                    connection.recv(4096)  # let the client speak first, as a web server would
                    connection.sendall(self.reply)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.port is not None:
            self._stopping.set()
            self._thread.join()
            self._listener.close()
            for connection in self._held:
                connection.close()
            self.port = None

    def __enter__(self) -> NotRtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = [
    "RtspCamera",
    "MjpegServer",
    "HlsStream",
    "NotRtspServer",
    "clip_frames",
    "gstreamer_problem",
]
