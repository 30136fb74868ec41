"""A live RTSP camera simulated on loopback from a video file: for benchmarks, and for tests of sources and watches.

:class:`RtspCamera` runs GStreamer's RTSP server (``rtsp_camera_gst.py``, next to this module)
in the system's Python, which has the GObject bindings a virtual environment lacks; on Debian
it needs the packages in :data:`DEBIAN_PACKAGES`, and :func:`gstreamer_problem` says in one
sentence what is missing. Each client gets the clip from its first frame at real time (then
its last frame, held), H.264 with a keyframe every second; optionally behind Basic or Digest
authentication. It can fail like a camera: :meth:`RtspCamera.kill` (power lost),
:meth:`~RtspCamera.start` again on the same port (rebooted), :meth:`~RtspCamera.pause` (a
stalled network).
"""

from __future__ import annotations

import select
import signal
import subprocess
import tempfile
from pathlib import Path

from .ports import free_port

SCRIPT = Path(__file__).with_name("rtsp_camera_gst.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-gi; the venv has no GStreamer bindings
DEBIAN_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)


def gstreamer_problem() -> str | None:
    """Why :class:`RtspCamera` cannot run here (one sentence that says what to install), or None."""
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        result = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return (
            f"{SYSTEM_PYTHON} does not exist; install the Debian packages python3 {DEBIAN_PACKAGES} (apt-get install)."
        )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit status {result.returncode}"
        return (
            f"{SYSTEM_PYTHON} cannot import GStreamer's RTSP server ({reason}); "
            f"install the Debian packages {DEBIAN_PACKAGES} (apt-get install)."
        )
    return None


class RtspCamera:
    """An RTSP camera on 127.0.0.1: ``rtsp_camera_gst.py`` (next to this module) run by the system's Python.

    ``clip`` is a video file played to every client from its first frame, at real time, then
    its last frame held; without it, GStreamer's moving-ball pattern. H.264, a keyframe every
    second. With ``user`` and ``password`` it requires authentication (``auth``: ``"basic"``
    or ``"digest"``): :attr:`url` then has no credentials (a client using it gets 401), and
    :meth:`url_with` or :attr:`authorized_url` put them in.

    To simulate a camera's failures: :meth:`kill` (SIGKILL: the connection drops mid-stream),
    then :meth:`start` again on the same port (a camera that reboots); :meth:`pause` (SIGSTOP:
    the connection stays open but nothing more arrives, and new clients hang) and :meth:`resume`.
    """

    def __init__(
        self,
        clip: str | Path | None = None,
        *,
        port: int | None = None,
        path: str = "/stream",
        fps: float | None = None,
        width: int | None = None,
        height: int | None = None,
        user: str | None = None,
        password: str | None = None,
        auth: str = "basic",
        ready_timeout: float = 30.0,
    ):
        if (user is None) != (password is None):
            raise ValueError("give RtspServer both user and password, or neither")
        self.clip = Path(clip) if clip is not None else None
        self.port = port or free_port()
        self.path = path if path.startswith("/") else "/" + path
        self.fps, self.width, self.height = fps, width, height
        self.user, self.password, self.auth = user, password, auth
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self._stderr = None
        self.paused = False

    @property
    def url(self) -> str:
        """``rtsp://127.0.0.1:PORT/stream``, without credentials."""
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def url_with(self, user: str, password: str) -> str:
        """:attr:`url` with ``user:password@`` in it (right or wrong ones, to test both)."""
        from urllib.parse import quote

        return f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}{self.path}"

    @property
    def authorized_url(self) -> str:
        """The URL a client that knows the credentials uses (:attr:`url` when there are none)."""
        return self.url if self.user is None else self.url_with(self.user, self.password)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        command = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), "--path", self.path]
        for option, value in (
            ("--clip", self.clip),
            ("--fps", self.fps),
            ("--width", self.width),
            ("--height", self.height),
        ):
            if value is not None:
                command += [option, str(value)]
        if self.user is not None:
            command += ["--user", self.user, "--password", self.password, "--auth", self.auth]
        return command

    def start(self) -> RtspCamera:
        """Start the server (again, after :meth:`kill` or :meth:`stop`, on the same port); returns once it listens."""
        if self.running:
            raise RuntimeError(f"the RTSP server on port {self.port} is already running; stop() or kill() it first")
        # A file, not a pipe: GStreamer's warnings can never fill it and block the server. Open while it runs.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self.paused = False
        line = None
        readable, _, _ = select.select([self.process.stdout], [], [], self.ready_timeout)
        if readable:
            line = self.process.stdout.readline()  # b"" when it exited before saying anything
        if line != b"ready\n":
            if line == b"":
                self.process.wait(timeout=5)
            status = self.process.poll()
            reason = (
                f"exited with status {status}"
                if status is not None
                else f"did not say ready within {self.ready_timeout:g} s"
            )
            self.kill()
            raise RuntimeError(f"the RTSP server on port {self.port} {reason}; its stderr:\n{self.stderr()}")
        return self

    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as when a camera loses power: clients' connections drop mid-stream."""
        if self.running:
            self.process.kill()
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but no byte more arrives (a stalled camera or network)."""
        if not self.running:
            raise RuntimeError(f"the RTSP server on port {self.port} is not running")
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`: the stream goes on where it stalled."""
        if self.running:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """Shut the server down (SIGTERM, SIGKILL if it lingers)."""
        if self.running:
            if self.paused:
                self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait()
            self.process.stdout.close()

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
