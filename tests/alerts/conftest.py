"""What the alert tests share: a real MQTT broker (Debian's mosquitto), a real webhook receiver, alert storms."""

import getpass
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.media import write_clip
from trio_model_tiny.watch_bench import demo_frames

ORANGE = "Is there an orange square?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """mosquitto on a loopback port; :meth:`stop` and :meth:`start` again keep the port (an outage)."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None):
        # Persistence on: a subscriber's session and its queued messages survive the broker's restart.
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            pytest.fail("The MQTT tests need Debian's mosquitto: apt-get install mosquitto (.ci/run does).")
        self.binary, self.port = binary, free_port()
        # As the user running the tests (as root it would drop to 'mosquitto', who cannot read the test's files).
        config = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {folder}/",
            "log_type error",
            f"user {getpass.getuser()}",
        ]
        if users:
            passwords = folder / "passwords"
            passwords.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            config += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            config.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(config) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.process.stderr.read()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def broker(tmp_path):
    running = Broker(tmp_path).start()
    yield running
    running.stop()


class Subscriber:
    """A paho client that keeps every message it gets on the topics, with its retained flag."""

    def __init__(self, port: int, topic: str = "#", username=None, password=None, *, lasting: bool = False):
        """``lasting``: a persistent session (clean_session off), so what is published while it is away (the
        broker restarting) is queued for it."""
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.RLock()  # a wait_for check may read on()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{free_port()}", clean_session=not lasting
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for name, payload, _ in self.messages if name == topic]

    def wait_for(self, check, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                result = check(list(self.messages))
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out; got {[(t, p[:60]) for t, p, _ in self.messages][-20:]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Receiver:
    """A webhook receiver on loopback: checks each POST's signature, answers 503 to the first ``fail_first``."""

    def __init__(self, secret: str | None = None, fail_first: int = 0, status: int = 503):
        self.secret, self.fail_first, self.status = secret, fail_first, status
        self.received: list[dict] = []  # accepted bodies, in arrival order
        self.attempts: list[dict] = []  # every request: headers and whether its signature held
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                given = self.headers.get("x-trio-signature")
                valid = None
                if receiver.secret is not None:
                    expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                    valid = given is not None and hmac.compare_digest(given, expected)
                receiver.attempts.append({"headers": dict(self.headers), "valid": valid, "path": self.path})
                if len(receiver.attempts) <= receiver.fail_first or valid is False:
                    self.send_response(receiver.status if valid is not False else 401)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def storm(tmp_path_factory):
    """The orange square on every other frame, 4 frames a second, for 20 s, then empty: with confirm=1, clear=1 and no
    cooldown, an alert every half second (40 of them)."""
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    return write_clip(tmp_path_factory.mktemp("storm") / "storm.mp4", [empty, frames[0]] * 40 + [empty], fps=4)


STORM = {"confirm": 1, "clear": 1, "cooldown_s": 0.0, "fps": 4}


@pytest.fixture(scope="session")
def engine():
    """trio-tiny with dedup off: the storm repeats its two frames on purpose."""
    from trio_core import TrioCore

    return TrioCore(model="trio-tiny", max_tokens=4, dedup_threshold=0).load()
