"""Which addresses a request may reach (trio_core.outbound): one rule for media URLs, webhooks, MQTT brokers and
Apprise's services, the connection pinned to the address that was checked, and sinks that keep their secrets.

Every refusal is tested by its refusal: a loopback listener stands where the request points and must see no
connection at all. Nothing here connects anywhere but loopback.
"""

import contextlib
import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import threading
import time

import httpx
import pytest
import requests

from tests.server.conftest import running_server
from trio_core.outbound import AddressRefused, Reach, is_public

ORANGE = [{"id": "orange", "question": "Is there an orange square?"}]


class Tripwire:
    """A TCP listener on 127.0.0.1 that counts the connections it gets (where a refused request points)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                peer, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            peer.close()

    def close(self):
        self.server.close()


@pytest.fixture
def tripwire():
    wire = Tripwire()
    yield wire
    wire.close()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("2002:808:808::1", True), ("64:ff9b::808:808", True),
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("100.127.255.254", False), ("0.0.0.0", False),
        ("224.0.0.251", False), ("240.0.0.1", False), ("255.255.255.255", False),
        ("::1", False), ("::", False), ("fe80::1%eth0", False), ("fc00::1", False), ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False),  # IPv4-mapped
        ("::127.0.0.1", False), ("::10.0.0.1", False),  # IPv4-compatible
        ("2002:7f00:1::", False), ("2002:a9fe:a9fe::1", False),  # 6to4 of 127.0.0.1, 169.254.169.254
        ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b:1::a00:1", False),  # NAT64
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo whose client is 127.0.0.1
        ("not an address", False),
    ],
)  # fmt: skip
def test_which_addresses_are_public(address, public):
    assert is_public(address) is public


@pytest.mark.parametrize(
    "sink",
    [
        # Apprise's services that post to a host the URL names
        "json://127.0.0.1:{port}/hook", "form://127.0.0.1:{port}/hook", "xml://127.0.0.1:{port}/hook",
        "ntfy://127.0.0.1:{port}/topic", "gotify://127.0.0.1:{port}/Atoken0123456", "json://localhost:{port}/hook",
        "json://169.254.169.254/latest/meta-data", "mailto://me:pw@127.0.0.1:{port}?to=you@example.com&from=me@example.com",
        # MQTT brokers
        "mqtt://127.0.0.1:{port}", "mqtts://169.254.169.254", "mqtt://[::ffff:127.0.0.1]:{port}",
        # webhooks, and the IPv6 and shared forms that lead to refused IPv4 addresses
        "http://127.0.0.1:{port}/hook", "http://[::ffff:127.0.0.1]:{port}/hook", "http://[2002:7f00:1::]:{port}/hook",
        "http://[64:ff9b::7f00:1]:{port}/hook", "http://[64:ff9b:1::7f00:1]:{port}/hook",
        "http://[::127.0.0.1]:{port}/hook", "http://100.64.0.1/hook", "https://[fe80::1]/hook", "http://0.0.0.0:{port}/",
    ],
)  # fmt: skip
def test_a_sink_a_request_names_may_not_reach_a_private_address(probed, tripwire, sink):
    url = sink.format(port=tripwire.port)
    answer = httpx.post(probed.url + "/v1/watch", headers=probed.user, timeout=60, json={
        "source": "appears.mp4", "conditions": ORANGE, "sinks": [url], "background": True,
    })  # fmt: skip
    assert answer.status_code == 403, answer.text
    message = answer.json()["error"]["message"]
    assert "a request may reach public addresses only" in message and message.count(". ") == 0
    assert tripwire.connections == 0


def test_a_webhook_s_secret_env_says_nothing_of_the_server_s_environment(probed, tripwire):
    def refusal(variable):
        answer = httpx.post(probed.url + "/v1/watch", headers=probed.user, timeout=60, json={
            "source": "appears.mp4", "conditions": ORANGE, "background": True,
            "sinks": [f"https://hooks.example/trio#secret_env={variable}"],
        })  # fmt: skip
        return answer.status_code, answer.json()["error"]["message"]

    assert (
        refusal("PATH")
        == refusal("TRIO_SURELY_NOT_SET")
        == (
            400,
            "A webhook a request names cannot take secret_env= (the server's environment is its admin's): give the "
            "signing secret with secret=.",
        )
    )
    assert tripwire.connections == 0


def test_a_media_url_is_refused_by_the_same_rule(probed, tripwire):
    for url in (f"http://[2002:7f00:1::]:{tripwire.port}/x.png", "http://100.64.0.1/x.png"):
        answer = httpx.post(probed.url + "/v1/chat/completions", headers=probed.user, timeout=60, json={
            "model": "trio-tiny", "max_tokens": 4,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}],
        })  # fmt: skip
        assert answer.status_code == 403 and "public addresses only" in answer.json()["error"]["message"], url
    assert tripwire.connections == 0


def test_sockets_opened_within_a_checked_block_are_checked_as_they_connect(tripwire):
    """What guards Apprise's services: whatever library connects (requests here, on Apprise's own worker threads
    too), the address it connects to is checked at that moment; other threads are not touched."""
    import apprise

    url = f"http://127.0.0.1:{tripwire.port}/"
    reach = Reach()
    with reach.connections("test sink") as watched:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
        assert "127.0.0.1" in str(watched.refused)
        # another thread, at the same time, is not inside the block
        other = threading.Thread(target=lambda: socket.create_connection(("127.0.0.1", tripwire.port)).close())
        other.start()
        other.join()
        eventually(lambda: tripwire.connections == 1)
        notifier = apprise.Apprise()
        notifier.add(f"json://127.0.0.1:{tripwire.port}/hook")
        assert not notifier.notify(body="b", title="t")  # Apprise hands the call to its pool: still checked
    with socket.create_connection(("127.0.0.1", tripwire.port)):  # after the block, as before
        pass
    eventually(lambda: tripwire.connections == 2)
    time.sleep(0.2)
    assert tripwire.connections == 2
    with pytest.raises(AddressRefused):
        reach.resolve("localhost", 80, "test sink")


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def localhost_certificate(folder):
    """A CA, and a certificate it signed for the name ``localhost`` only (no IP address in it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trio test CA")])

    def signed(subject, public_key, *, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(signed(ca_name, ca_key.public_key(), ca=True).public_bytes(pem))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    (folder / "server.pem").write_bytes(signed(name, key.public_key(), ca=False,
                                               san=[x509.DNSName("localhost")]).public_bytes(pem))  # fmt: skip
    (folder / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@contextlib.contextmanager
def tls_server(certificate, key):
    """An HTTPS server on 127.0.0.1 that records each request's Host header and the name the client sent (SNI)."""
    import http.server

    seen = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append({"host": self.headers["Host"], "sni": names[-1] if names else None})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_pinned_connection_keeps_the_name_for_the_host_header_sni_and_the_certificate(tmp_path):
    ca, certificate, key = localhost_certificate(tmp_path)
    with tls_server(certificate, key) as (port, seen):
        # private addresses allowed: still resolved once and connected to by address; the name goes everywhere else
        with Reach(allow_private=True).http_client(verify=ssl.create_default_context(cafile=str(ca))) as client:
            answer = client.get(f"https://localhost:{port}/x")
        assert answer.status_code == 200 and answer.url.host == "localhost"
        assert seen == [{"host": f"localhost:{port}", "sni": "localhost"}]
        # the certificate names localhost only: by its address the same server is not trusted
        trusting = ssl.create_default_context(cafile=str(ca))
        with Reach(allow_private=True).http_client(verify=trusting) as client, pytest.raises(httpx.ConnectError):
            client.get(f"https://127.0.0.1:{port}/x")


def test_a_request_s_mqtt_broker_is_connected_by_address_and_checked_by_name(tmp_path):
    from tests.watch.test_standing import wait_for
    from trio_core.sinks.mqtt import MqttConnection
    from trio_core.testing.loopback import Mosquitto

    ca, certificate, key = localhost_certificate(tmp_path)
    broker = Mosquitto(tmp_path / "broker", tls=(certificate, key)).start()
    try:
        connection = MqttConnection(f"mqtts://localhost:{broker.tls_port}?ca={ca}", Reach(allow_private=True))
        try:
            assert connection.connect_to == "127.0.0.1"
            wait_for(connection.client.is_connected, timeout=20)
            assert connection.problem is None
        finally:
            connection.close()
    finally:
        broker.stop()


@pytest.fixture
def failing_receiver():
    """An HTTP server on 127.0.0.1 that answers 503 to everything (so each sink retries and logs a warning)."""
    import http.server

    requests_seen = []

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            requests_seen.append(self.path)
            self.send_response(503)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], requests_seen
    server.shutdown()
    server.server_close()


def test_a_sink_s_token_never_shows_in_listings_the_live_view_the_dashboard_or_the_log(
    tmp_path, appears, failing_receiver
):
    port, seen = failing_receiver
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(appears, media / "appears.mp4")
    # The admin's own watch (not started), with services whose token is the URL's host or path.
    watches = tmp_path / "watches.toml"
    watches.write_text(
        f'[watches.kept]\nsource = "{media / "appears.mp4"}"\nconditions = ["Is there an orange square?"]\n'
        'enabled = false\nsinks = ["tgram://123456789:TOKtgram7a9c41/1234567", '
        '"pover://USERpover7a9c41abcdefghijklmnopq@TOKpover7a9c41abcdefghijklmnopq"]\n'
    )
    sinks = [
        f"ntfy://127.0.0.1:{port}/topicntfy7a9c41",  # the topic is all it takes to read an ntfy server's alerts
        f"json://trio:pwjson7a9c41@127.0.0.1:{port}/hook",
        f"gotify://127.0.0.1:{port}/TOKgotify7a9c41",
        f"http://trio:p@ss7a9c41@127.0.0.1:{port}/hook?access_token=TOKhook7a9c41#snapshot=none",
    ]
    args = ("--model", "trio-tiny", "--media-root", str(media), "--watches", str(watches), "--events-dir",
            str(tmp_path / "events"), "--allow-private-urls", "--json-logs")  # fmt: skip
    with running_server(*args) as (url, process):
        live = []

        def follow():
            with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url + "/v1/watch/live", timeout=60) as s:
                for line in s.iter_lines():
                    live.append(line)
                    if len(live) > 400:
                        return

        threading.Thread(target=follow, daemon=True).start()
        started = httpx.post(url + "/v1/watch", timeout=60, json={
            "source": "appears.mp4", "conditions": ORANGE, "sinks": sinks, "background": True, "name": "porch",
            "fps": 4, "cooldown_s": 0,
        })  # fmt: skip
        assert started.status_code == 201, started.text
        deadline = time.monotonic() + 90
        while len({path.split("?")[0] for path in seen}) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert seen, "no sink tried to deliver"
        time.sleep(1.0)  # the sinks' warnings logged, the live view's updates sent
        listing = httpx.get(url + "/v1/watch", timeout=30).text
        dashboard = httpx.get(url + "/", timeout=30).text + httpx.get(url + "/dashboard/watches", timeout=30).text
        shown = {sink["sink"] for watch in json.loads(listing)["watches"] for sink in watch.get("sinks", [])}
        log = process.log.read_text()
    assert f"ntfy://127.0.0.1:{port}/***" in shown and "tgram://1...1/1234567/" in shown, shown
    for where, text in (("listing", listing), ("live", "\n".join(live)), ("dashboard", dashboard), ("log", log)):
        assert "7a9c41" not in text, f"a sink's secret shows in the {where}"
    assert "(retrying)" in log  # the sinks' warnings were logged, without their secrets


def test_refused_and_allowed_networks_are_exact():
    """CGNAT is exactly 100.64.0.0/10: its neighbours are public."""
    assert is_public("100.63.255.255") and is_public("100.128.0.0")
    assert not any(is_public(str(address)) for address in ipaddress.ip_network("100.64.0.0/30"))
