"""ONVIF: WS-Discovery and GetStreamUri against a fake camera on loopback (tests/cameras/onvif_responder.py).

The camera checks WS-Security password digests as real ones do, so these go through the real
libraries (WSDiscovery, onvif-zeep-async, zeep, aiohttp) end to end. Every socket is on
127.0.0.1; nothing here sends to a multicast group.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator

import pytest

from tests.cameras.onvif_responder import FakeProfile, OnvifResponder
from trio_core.cameras import (
    MISSING_EXTRA,
    Camera,
    CredentialsRefusedError,
    OnvifUnavailableError,
    Profile,
    discover,
    stream_uri,
)
from trio_core.errors import TrioError
from trio_core.testing import free_port

PASSWORD = "p@ss:w/rd%"  # every character that must be percent-encoded in a URL's user info
MAIN = Profile(name="mainStream", token="Profile_1", width=1920, height=1080, encoding="H264")
SUB = Profile(name="subStream", token="Profile_2", width=640, height=360, encoding="H264")


@pytest.fixture
def camera():
    """A camera that wants admin / PASSWORD for everything but the pre-auth calls."""
    with OnvifResponder(password=PASSWORD) as responder:
        yield responder


def everything_shown(error: BaseException) -> str:
    """The message, the repr and the traceback as Python prints it: where a password must not be."""
    return f"{error}\n{error!r}\n{''.join(traceback.format_exception(type(error), error, error.__traceback__))}"


# --- discovery --------------------------------------------------------------------------------


def test_a_unicast_probe_finds_the_camera_with_its_address_maker_model_and_profiles():
    with OnvifResponder(anonymous=True) as responder:
        cameras = discover(2.0, address=responder.udp_address)

    assert cameras == [
        Camera(
            address=f"127.0.0.1:{responder.http_port}",
            xaddr=responder.xaddr,
            name="Front Door",
            manufacturer="Acme",
            model="AC-100",
            profiles=(MAIN, SUB),
            scopes=(
                "onvif://www.onvif.org/type/video_encoder",
                "onvif://www.onvif.org/name/Front Door",
                "onvif://www.onvif.org/hardware/AC-100",
                "onvif://www.onvif.org/location/country/nowhere",
            ),
        )
    ]
    assert responder.calls == ["GetServices", "GetProfiles", "GetDeviceInformation"]
    found = cameras[0]
    assert (found.host, found.port) == ("127.0.0.1", responder.http_port)
    assert found.to_dict()["profiles"][0] == {
        "name": "mainStream",
        "token": "Profile_1",
        "width": 1920,
        "height": 1080,
        "encoding": "H264",
    }


def test_a_camera_that_wants_credentials_is_listed_with_what_its_probe_answer_said(camera):
    (found,) = discover(2.0, address=camera.udp_address)

    assert (found.address, found.name, found.model) == (f"127.0.0.1:{camera.http_port}", "Front Door", "AC-100")
    assert (found.manufacturer, found.profiles) == (None, ())
    assert found.error == f"The camera at 127.0.0.1:{camera.http_port} needs a user name and password (ONVIF)."


def test_discovery_with_credentials_gets_the_details_a_camera_gives_only_to_its_users(camera):
    (found,) = discover(2.0, address=camera.udp_address, user="admin", password=PASSWORD)

    assert (found.manufacturer, found.model, found.profiles, found.error) == ("Acme", "AC-100", (MAIN, SUB), None)


def test_a_host_that_does_not_answer_the_probe_gives_an_empty_list():
    port = free_udp_port()

    assert discover(0.3, address=f"127.0.0.1:{port}") == []


def test_a_discovery_address_without_a_port_is_refused_before_anything_is_sent():
    with pytest.raises(TrioError, match=r"The discovery address '127\.0\.0\.1' has no port: write it as HOST:PORT"):
        discover(0.1, address="127.0.0.1")


# --- stream_uri -------------------------------------------------------------------------------


def test_stream_uri_gives_the_first_profiles_rtsp_url_with_the_credentials_percent_encoded(camera):
    url = stream_uri("127.0.0.1", port=camera.http_port, user="admin", password=PASSWORD)

    assert url == "rtsp://admin:p%40ss%3Aw%2Frd%25@127.0.0.1:8554/stream"
    assert camera.calls == ["GetServices", "GetProfiles", "GetStreamUri"]


def test_stream_uri_picks_a_profile_by_name_or_token_and_takes_host_port_as_discovery_gives_it(camera):
    address = f"127.0.0.1:{camera.http_port}"

    assert stream_uri(address, user="admin", password=PASSWORD, profile="subStream").endswith("@127.0.0.1:8554/sub")
    assert stream_uri(address, user="admin", password=PASSWORD, profile="Profile_2").endswith("@127.0.0.1:8554/sub")


def test_an_anonymous_camera_gives_its_url_without_credentials():
    profile = FakeProfile("main", "p1", 1280, 720, uri="rtsp://127.0.0.1:8554/open")
    with OnvifResponder(anonymous=True, profiles=(profile,)) as responder:
        assert stream_uri("127.0.0.1", port=responder.http_port) == "rtsp://127.0.0.1:8554/open"


@pytest.mark.parametrize("status", [400, 401], ids=["http-400-as-the-spec", "http-401-as-hikvision"])
def test_a_wrong_password_is_one_sentence_that_never_shows_the_password(status):
    responder = OnvifResponder(password="right-one", auth_failure_status=status)
    with responder, pytest.raises(CredentialsRefusedError) as refused:
        stream_uri("127.0.0.1", port=responder.http_port, user="admin", password=PASSWORD)

    assert (
        str(refused.value)
        == f"The camera at 127.0.0.1:{responder.http_port} refused the user name or password (ONVIF)."
    )
    assert PASSWORD not in everything_shown(refused.value)


def test_a_camera_whose_clock_is_off_still_takes_the_right_password_and_refuses_a_wrong_one():
    # The digest is dated: refused first, then signed again on the camera's time (GetSystemDateAndTime).
    with OnvifResponder(password=PASSWORD, clock_offset=-3 * 3600) as camera:
        url = stream_uri("127.0.0.1", port=camera.http_port, user="admin", password=PASSWORD)
        with pytest.raises(CredentialsRefusedError, match=r"refused the user name or password \(ONVIF\)\.$"):
            stream_uri("127.0.0.1", port=camera.http_port, user="admin", password="wrong")

    assert url == "rtsp://admin:p%40ss%3Aw%2Frd%25@127.0.0.1:8554/stream"
    assert camera.calls[:6] == [
        "GetServices",
        "GetProfiles",
        "GetSystemDateAndTime",
        "GetServices",
        "GetProfiles",
        "GetStreamUri",
    ]


def test_a_camera_that_wants_http_authentication_before_any_soap_counts_as_refusing_the_credentials():
    # A 401 with no SOAP body: the camera wants HTTP digest, which onvif-zeep-async does not speak.
    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="camera", nonce="1", qop="auth"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_server(Refuses) as port, pytest.raises(CredentialsRefusedError) as refused:
        stream_uri("127.0.0.1", port=port, user="admin", password=PASSWORD)

    assert str(refused.value) == f"The camera at 127.0.0.1:{port} refused the user name or password (ONVIF)."


def test_no_credentials_for_a_camera_that_wants_them(camera):
    with pytest.raises(CredentialsRefusedError, match=r"needs a user name and password \(ONVIF\)\.$"):
        stream_uri("127.0.0.1", port=camera.http_port)


def test_a_web_server_that_is_not_onvif_says_so():
    with http_server(http.server.SimpleHTTPRequestHandler) as port, pytest.raises(OnvifUnavailableError) as error:
        stream_uri("127.0.0.1", port=port, user="admin", password=PASSWORD)

    assert str(error.value) == (
        f"127.0.0.1:{port} answers HTTP but not ONVIF: check the camera's ONVIF port "
        "(often 80, 8000, 8080 or 2020), or give its RTSP URL."
    )
    assert error.value.reason == f"port {port} answers HTTP but not ONVIF"


def test_a_port_where_nothing_listens_says_it_refused_the_connection():
    port = free_port()

    with pytest.raises(OnvifUnavailableError) as error:
        stream_uri("127.0.0.1", port=port, user="admin", password=PASSWORD)

    assert str(error.value) == (
        f"127.0.0.1:{port} refused the connection: check the camera's address and its ONVIF port "
        "(often 80, 8000, 8080 or 2020)."
    )


def test_a_camera_that_never_answers_times_out_in_one_sentence():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, then says nothing
        port = silent.getsockname()[1]
        with pytest.raises(OnvifUnavailableError) as error:
            stream_uri("127.0.0.1", port=port, user="admin", password=PASSWORD, timeout=0.5)

    assert str(error.value) == (
        f"The camera at 127.0.0.1:{port} did not answer ONVIF within 0.5 s: check its address and ONVIF port "
        "(often 80, 8000, 8080 or 2020)."
    )


def test_an_unknown_profile_names_the_ones_there_are(camera):
    with pytest.raises(TrioError) as error:
        stream_uri("127.0.0.1", port=camera.http_port, user="admin", password=PASSWORD, profile="thirdStream")

    assert str(error.value) == (
        f"The camera at 127.0.0.1:{camera.http_port} has no ONVIF profile 'thirdStream': name one of mainStream, subStream."
    )


def test_the_proxy_settings_of_the_process_survive_a_call(camera, monkeypatch):
    # onvif-zeep-async's ONVIFCamera() deletes http_proxy and https_proxy from os.environ.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")

    stream_uri("127.0.0.1", port=camera.http_port, user="admin", password=PASSWORD)

    assert (os.environ.get("http_proxy"), os.environ.get("https_proxy")) == ("http://127.0.0.1:9",) * 2


# --- the extra --------------------------------------------------------------------------------


def test_without_the_extra_import_works_and_every_onvif_call_says_how_to_install_it():
    script = textwrap.dedent(
        """
        import sys
        import trio_core.cameras as cameras
        loaded = sorted({"onvif", "wsdiscovery", "zeep", "aiohttp"} & set(sys.modules))
        assert not loaded, f"importing trio_core.cameras loaded {loaded}"
        sys.modules["onvif"] = None  # as if trio-core[onvif] were not installed
        sys.modules["wsdiscovery"] = None
        for call in (lambda: cameras.discover(0.1, address="127.0.0.1:9"), lambda: cameras.stream_uri("127.0.0.1", port=9)):
            try:
                call()
            except cameras.OnvifUnavailableError as error:
                print(error)
        # resolve() does without ONVIF: the brands' URLs need no extra
        print(cameras.resolve("127.0.0.1", onvif_port=9, probe=lambda url: "/Streaming/" in url))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        MISSING_EXTRA,
        MISSING_EXTRA,
        "('rtsp://127.0.0.1:554/Streaming/Channels/101', 'Hikvision')",
    ]
    assert MISSING_EXTRA == "ONVIF needs the onvif extra: run `pip install 'trio-core[onvif]'`."


def test_loading_the_onvif_library_leaves_the_process_logging_as_it_was():
    # `import onvif` calls logging.basicConfig(level=INFO), which would print every library's INFO lines.
    script = "import logging, trio_core.onvif; root = logging.getLogger(); print(root.handlers, root.level)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] 30"  # no handler, WARNING: Python's defaults


# --- helpers ----------------------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1 with ``handler``, in a thread; gives its port."""
    quiet = type("Quiet", (handler,), {"log_message": lambda self, *args: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
