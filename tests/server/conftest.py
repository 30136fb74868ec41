"""An app on trio-tiny (its real weights answer yes/no questions sensibly), in-process or as a real server."""

import base64
import contextlib
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.watch.conftest import appears  # noqa: F401 - a fixture (a clip in which the orange square appears)
from trio_core.config import EngineConfig
from trio_core.server import create_app
from trio_core.server.settings import ServerSettings
from trio_core.testing import free_port

DEMO = Path(__file__).resolve().parents[2] / "trio_model_tiny" / "src" / "trio_model_tiny" / "demo"


def png_b64() -> str:
    return base64.b64encode((DEMO / "shapes.png").read_bytes()).decode()


def data_url() -> str:
    return "data:image/png;base64," + png_b64()


def wait_ready(client, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if client.get("/healthz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the model did not load in time")


@contextlib.contextmanager
def app_client(model="trio-tiny", **settings):
    config = EngineConfig(model=model, max_tokens=8)
    app = create_app(config, ServerSettings(**settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """No keys, the demo folder as the media root."""
    with app_client(media_roots=[str(DEMO)]) as client:
        yield client


@contextlib.contextmanager
def running_server(*args: str, env: dict | None = None, ready_timeout: float = 90.0, port: int | None = None):
    """``trio serve`` in a subprocess on a free loopback port (or ``port``); yields its base URL and the process.

    Its output goes to a file (``process.log``): a pipe nobody reads fills up and blocks the
    server's logging, and with it the server.
    """
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")}
    full_env.update(env or {})
    trio = Path(sys.executable).with_name("trio")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(trio), "serve", "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT, env=full_env
    )
    process.log = Path(log.name)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + ready_timeout
        while time.monotonic() < end:
            if process.poll() is not None:
                raise AssertionError(f"trio serve exited {process.returncode}:\n{process.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("trio serve did not become ready")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def local_http():
    """A plain HTTP server on 127.0.0.1 serving the demo folder; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(DEMO), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def probed(tmp_path_factory, appears):
    """One real ``trio serve`` set up as the issue's probe ran it, shared by the hostile-input tests:
    ``--api-key K --admin-key A --media-root media --watches watches.toml --json-logs`` on loopback.

    Yields a namespace: ``url``, ``process`` (its log in ``process.log``), ``media`` (the media root, holding the
    demo files and ``appears.mp4``), ``watches`` (the file), ``events`` (the event store's folder), ``user`` and
    ``admin`` (the two keys' headers). Tests that change what the server holds clean up after themselves; tests
    that lock out the loopback address (login limits) start a server of their own.
    """
    import shutil
    import types

    base = tmp_path_factory.mktemp("probed")
    media = base / "media"
    media.mkdir()
    for name in ("shapes.png", "moving.mp4"):
        shutil.copy(DEMO / name, media / name)
    shutil.copy(appears, media / "appears.mp4")
    watches = base / "watches.toml"
    watches.write_text(
        f'[defaults]\nfps = 4\ncooldown_s = 0\n\n[watches.clip]\nsource = "{media / "appears.mp4"}"\n'
        'conditions = ["Is there an orange square?"]\n'
    )
    events = base / "events"
    args = ("--model", "trio-tiny", "--api-key", "K", "--admin-key", "A", "--media-root", str(media),
            "--watches", str(watches), "--events-dir", str(events), "--json-logs")  # fmt: skip
    with running_server(*args) as (url, process):
        yield types.SimpleNamespace(
            url=url, process=process, media=media, watches=watches, events=events,
            user={"Authorization": "Bearer K"}, admin={"Authorization": "Bearer A"},
        )  # fmt: skip
