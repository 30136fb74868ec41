"""Real receivers on loopback, for ``trio bench events`` and for tests of sinks (trio's and plugins').

- :class:`Mosquitto`: the Mosquitto broker (``apt-get install mosquitto``) on a free loopback
  port, optionally with users; :meth:`Mosquitto.stop` then :meth:`Mosquitto.start` is an
  outage that keeps the port (and, persistence on, the subscribers' sessions).
- :class:`Subscriber`: a paho client that keeps every message, when it arrived and its retain flag.
- :class:`WebhookReceiver`: an HTTP server that checks each POST's ``X-Trio-Signature`` and
  can fail the first deliveries on purpose.

Nothing here listens beyond 127.0.0.1.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import TrioError
from .ports import free_port


class Mosquitto:
    """Mosquitto on a loopback port, in ``folder`` (a temporary one by default)."""

    def __init__(
        self, folder: Path | None = None, users: dict[str, str] | None = None, *, nodelay: bool = False,
        tls: tuple[Path, Path] | None = None,
    ):  # fmt: skip
        """``nodelay``: Mosquitto's ``set_tcp_nodelay true`` (off by default: Nagle's algorithm then holds each
        acknowledgement after the first of a burst ~40 ms). ``tls``: (certificate, key) files for a second,
        TLS listener on ``tls_port`` (``mqtts://127.0.0.1:tls_port``)."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise TrioError("This needs the Mosquitto MQTT broker: run `apt-get install mosquitto` (or brew install).")
        folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="trio-mosquitto-"))
        folder.mkdir(parents=True, exist_ok=True)
        self.binary, self.port = binary, free_port()
        # Persistence on: a subscriber's session and its queued messages survive a restart. As the user running
        # this (as root, mosquitto would drop to 'mosquitto', who cannot read the folder).
        config = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                  "log_type error", f"user {getpass.getuser()}"]  # fmt: skip
        if nodelay:
            config.append("set_tcp_nodelay true")
        self.tls_port = free_port() if tls else None
        if tls:
            certificate, key = tls
            config += [f"listener {self.tls_port} 127.0.0.1", f"certfile {certificate}", f"keyfile {key}"]
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

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                for port in (self.port, self.tls_port):
                    if port is not None:
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.process.kill()
        raise TrioError(f"mosquitto did not listen on {self.port}: {self.process.stderr.read().decode().strip()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Subscriber:
    """A paho client keeping ``(topic, payload, retained, arrival)`` for each message on ``topic``.

    ``lasting``: a persistent session (clean_session off), so what is published while it is away
    (the broker restarting) is queued for it."""

    def __init__(self, port: int, topic: str = "#", username=None, password=None, *, lasting: bool = False):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self.lock = threading.RLock()  # a wait_for check may read on()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"trio-sub-{free_port()}", clean_session=not lasting
        )
        if username:
            self.client.username_pw_set(username, password)
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribed.wait(10)

    def _message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain), time.perf_counter()))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for name, payload, _, _ in self.messages if name == topic]

    def wait_for(self, check, timeout: float = 30.0):
        """``check(messages)``'s first true value, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                result = check(list(self.messages))
            if result:
                return result
            time.sleep(0.02)
        raise TrioError(f"Timed out waiting for MQTT messages ({len(self.messages)} arrived).")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class WebhookReceiver:
    """Takes POSTs on ``url``: checks ``X-Trio-Signature`` with ``secret``, answers ``status`` to the first
    ``fail_first`` (and 401 to a bad signature), 200 to the rest, keeping each accepted body and its arrival."""

    def __init__(self, secret: str | None = None, fail_first: int = 0, status: int = 503):
        self.secret, self.fail_first, self.status = secret, fail_first, status
        self.received: list[dict] = []  # accepted bodies, in arrival order
        self.arrivals: list[float] = []  # time.perf_counter() of each
        self.attempts: list[dict] = []  # every request: its headers, path and whether its signature held
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
                if valid is False or len(receiver.attempts) <= receiver.fail_first:
                    self.send_response(401 if valid is False else receiver.status)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                receiver.arrivals.append(time.perf_counter())
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
