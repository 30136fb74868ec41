"""The server's own front door, on real ``trio serve`` processes on loopback: what needs a key, how many wrong keys
an address may send, the headers every page carries, logins only from the server's own pages, and a start-up that
either says in one line where it serves or in one sentence why it cannot."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx

from tests.server.conftest import running_server
from trio_core.testing import free_port

KEY = "front-door-key-7"
TRIO = Path(sys.executable).with_name("trio")


def login(client: httpx.Client, url: str, key: str, **headers) -> httpx.Response:
    return client.post(url + "/login", data={"key": key}, headers=headers, follow_redirects=False)


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 reaches the server on 127.0.0.1)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


# What needs a key --------------------------------------------------------------------------------


def test_the_api_schema_needs_a_key_and_there_are_no_docs_pages(probed):
    assert httpx.get(probed.url + "/openapi.json").status_code == 401
    schema = httpx.get(probed.url + "/openapi.json", headers=probed.user)
    assert schema.status_code == 200 and "/v1/chat/completions" in schema.json()["paths"]
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(probed.url + page, headers=probed.user).status_code == 404, page


# Headers -----------------------------------------------------------------------------------------


class InlineScript(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: <script> without src, on* handler attributes."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        self.found += [f"<{tag} {name}=...>" for name in names if name.startswith("on")]


def test_every_page_carries_the_security_headers_and_runs_no_inline_script(probed):
    def check(answer: httpx.Response) -> None:
        path = answer.request.url.path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-" not in csp, path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
        if answer.headers.get("content-type", "").startswith("text/html"):
            parser = InlineScript()
            parser.feed(answer.text)
            assert not parser.found, (path, parser.found)

    with httpx.Client(base_url=probed.url, timeout=30) as browser:
        check(browser.get("/login"))  # the login page itself, before a session
        assert login(browser, probed.url, "K").status_code == 303  # the probe's user key opens a session
        for path in ("/", "/dashboard/watches", "/dashboard/events", "/events/1", "/static/dashboard.js"):
            answer = browser.get(path, follow_redirects=False)
            assert answer.status_code in (200, 404), path  # 404: no event 1 yet
            check(answer)
        assert 'id="watch-clip"' in browser.get("/dashboard/watches").text  # the watches file's card, <img> and all
        check(httpx.get(probed.url + "/v1/models", headers=probed.user))  # the API's answers carry them too


# Logins from other sites -------------------------------------------------------------------------


def test_login_and_logout_from_another_sites_page_are_refused(probed):
    url = probed.url
    with httpx.Client(timeout=30) as browser:
        for forged in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                       {"Sec-Fetch-Site": "same-site", "Origin": url}):  # fmt: skip
            refused = login(browser, url, "K", **forged)
            assert refused.status_code == 403 and "set-cookie" not in refused.headers, forged
            assert "own pages" in refused.json()["error"]["message"]
        assert login(browser, url, "K", Origin=url).status_code == 303
        assert login(browser, url, "K", **{"Sec-Fetch-Site": "same-origin", "Origin": "null"}).status_code == 303
        forged = browser.post(url + "/logout", headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
        assert forged.status_code == 403
        assert browser.get(url + "/v1/watch").status_code == 200  # still logged in
        out = browser.post(url + "/logout", headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get(url + "/v1/watch").status_code == 401


# Wrong keys --------------------------------------------------------------------------------------


def test_wrong_keys_are_limited_per_address_while_other_addresses_and_sessions_carry_on(tmp_path):
    env = {"TRIO_EVENTS_DIR": str(tmp_path / "events")}
    with (
        running_server("--model", "trio-tiny", "--api-key", KEY, env=env) as (url, _),
        from_address("127.0.0.1") as guesser,
        from_address("127.0.0.2") as neighbour,
        from_address("127.0.0.3") as bearer,
    ):
        assert login(guesser, url, KEY).status_code == 303  # a session opened before the guessing starts
        answers = [login(guesser, url, f"guess-{n}") for n in range(30)]
        codes = [answer.status_code for answer in answers]
        assert codes == [401] * 10 + [429] * 20, codes  # ten keys compared, then none
        held = answers[-1]
        assert 0 < int(held.headers["retry-after"]) <= 60 and "Too many wrong keys" in held.text
        # While held, even the right key is not compared (it would tell a guesser it was right) ...
        assert login(guesser, url, KEY).status_code == 429
        refused = guesser.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert refused.json()["error"]["type"] == "rate_limit_error"
        # ... but the browser already logged in keeps its session, and other addresses are not held.
        assert guesser.get(url + "/v1/watch").status_code == 200
        assert neighbour.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert login(neighbour, url, KEY).status_code == 303
        # Wrong bearer keys count the same way.
        wrong = [bearer.get(url + "/v1/models", headers={"Authorization": f"Bearer no-{n}"}) for n in range(12)]
        assert [answer.status_code for answer in wrong] == [401] * 10 + [429] * 2
        assert login(bearer, url, KEY).status_code == 429
        assert httpx.get(url + "/healthz").status_code == 200  # the health check needs no key and is never held


# Starting up -------------------------------------------------------------------------------------


def serve(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")} | (env or {})
    return subprocess.run([str(TRIO), "serve", *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def one_sentence(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].endswith("."), lines
    return lines[0]


def test_a_model_that_cannot_load_ends_trio_serve_with_one_sentence(tmp_path):
    env = {"TRIO_EVENTS_DIR": str(tmp_path / "events")}
    assert "neither a local directory nor a hub id" in one_sentence(
        serve("--model", "nosuch", "--port", str(free_port()), env=env)
    )
    offline = {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # an empty cache, and no network
    assert "HF_HUB_OFFLINE" in one_sentence(
        serve("--model", "trio-tests/not-downloaded", "--port", str(free_port()), env=offline)
    )


def test_a_port_that_is_taken_is_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--model", "trio-tiny", "--port", str(port), env={"TRIO_EVENTS_DIR": str(tmp_path / "events")})
    sentence = one_sentence(done)
    assert f"127.0.0.1 port {port}" in sentence and "--port" in sentence and "Errno" not in sentence


def test_once_up_the_server_says_in_one_line_where_it_listens_and_that_the_model_is_ready(probed):
    said = [line for line in probed.process.log.read_text().splitlines() if "the model is ready" in line]
    assert len(said) == 1 and f"trio-tiny at {probed.url}" in said[0], said
    assert "Uvicorn running" not in probed.process.log.read_text()


def test_a_remote_backend_whose_server_is_not_up_yet_is_waited_for(tmp_path):
    remote_port = free_port()
    port = free_port()
    args = ["--model", "trio-tiny", "--endpoint", f"http://127.0.0.1:{remote_port}/v1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")} | {"TRIO_EVENTS_DIR": str(tmp_path)}
    with open(tmp_path / "gateway.log", "w+") as log:
        gateway = subprocess.Popen([str(TRIO), "serve", *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait_for(lambda: healthz(url) == 503), (tmp_path / "gateway.log").read_text()
            assert gateway.poll() is None  # up, waiting for its server
            with running_server("--model", "trio-tiny", port=remote_port):
                assert wait_for(lambda: healthz(url) == 200, timeout=60), (tmp_path / "gateway.log").read_text()
                answer = httpx.get(url + "/health").json()
                assert answer["status"] == "ready" and answer["backend"] == "openai"
        finally:
            gateway.terminate()
            gateway.wait(timeout=20)
    assert "waiting for the model's servers" in (tmp_path / "gateway.log").read_text()


def healthz(url: str) -> int | None:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url + "/healthz", timeout=2).status_code
    return None


def wait_for(condition, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return False
