"""resolve(): ONVIF first, then the brands' RTSP URLs in order; the default probe against FFmpeg's own RTSP client.

The probes given to resolve() accept one brand's URL only: that tests the order, the
credentials and the masking of our code, not a library. The default probe runs PyAV for real
against a loopback RTSP server that checks FFmpeg's digest authentication.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.cameras.onvif_responder import OnvifResponder
from trio_core.cameras import BRANDS, CredentialsRefusedError, candidate_urls, open_with_pyav, resolve
from trio_core.errors import TrioError
from trio_core.testing import free_port

PASSWORD = "p@ss:w/rd%"
ENCODED = "p%40ss%3Aw%2Frd%25"


def test_the_brands_urls_come_in_order_with_the_credentials_percent_encoded():
    urls = candidate_urls("192.0.2.7", "admin", PASSWORD)

    assert [brand for brand, _ in urls] == [brand.name for brand in BRANDS]
    assert urls == [
        ("Hikvision", f"rtsp://admin:{ENCODED}@192.0.2.7:554/Streaming/Channels/101"),
        ("Dahua/Amcrest", f"rtsp://admin:{ENCODED}@192.0.2.7:554/cam/realmonitor?channel=1&subtype=0"),
        ("Reolink", f"rtsp://admin:{ENCODED}@192.0.2.7:554/h264Preview_01_main"),
        ("TP-Link Tapo", f"rtsp://admin:{ENCODED}@192.0.2.7:554/stream1"),
        ("Axis", f"rtsp://admin:{ENCODED}@192.0.2.7:554/axis-media/media.amp"),
        ("Uniview", f"rtsp://admin:{ENCODED}@192.0.2.7:554/unicast/c1/s0/live"),
        ("Hanwha Wisenet", f"rtsp://admin:{ENCODED}@192.0.2.7:554/profile2/media.smp"),
        ("Foscam", f"rtsp://admin:{ENCODED}@192.0.2.7:554/videoMain"),
        ("Vivotek", f"rtsp://admin:{ENCODED}@192.0.2.7:554/live.sdp"),
    ]
    assert candidate_urls("cam.local", port=8554)[0] == ("Hikvision", "rtsp://cam.local:8554/Streaming/Channels/101")


def test_onvif_comes_first_and_its_url_is_taken_without_probing():
    probed = []
    with OnvifResponder(password=PASSWORD) as camera:
        found = resolve("127.0.0.1", user="admin", password=PASSWORD, onvif_port=camera.http_port, probe=probed.append)

    assert found == (f"rtsp://admin:{ENCODED}@127.0.0.1:8554/stream", "onvif")
    assert probed == []


def test_without_onvif_the_brands_are_tried_in_order_until_one_opens():
    probed = []

    def only_reolink(url: str) -> bool:
        probed.append(url)
        return "/h264Preview_01_main" in url

    found = resolve(
        "127.0.0.1", user="admin", password=PASSWORD, onvif_port=free_port(), rtsp_port=8554, probe=only_reolink
    )

    assert found == (f"rtsp://admin:{ENCODED}@127.0.0.1:8554/h264Preview_01_main", "Reolink")
    assert probed == [url for _, url in candidate_urls("127.0.0.1", "admin", PASSWORD, port=8554)[:3]]


def test_a_camera_refusing_the_password_over_onvif_stops_the_search():
    probed = []
    with OnvifResponder(password="right-one") as camera, pytest.raises(CredentialsRefusedError) as refused:
        resolve("127.0.0.1", user="admin", password=PASSWORD, onvif_port=camera.http_port, probe=probed.append)

    assert (
        str(refused.value) == f"The camera at 127.0.0.1:{camera.http_port} refused the user name or password (ONVIF)."
    )
    assert probed == []


def test_when_nothing_opens_one_sentence_lists_what_was_tried_masked_and_asks_for_the_url():
    onvif_port = free_port()

    with pytest.raises(TrioError) as error:
        resolve("127.0.0.1", user="admin", password=PASSWORD, onvif_port=onvif_port, probe=lambda url: False)

    message = str(error.value)
    assert message.startswith(
        f"Found no stream at 127.0.0.1: ONVIF gave none (port {onvif_port} refused the connection) and no brand's "
        "usual RTSP URL opened (Hikvision rtsp://***@127.0.0.1:554/Streaming/Channels/101, Dahua/Amcrest "
    )
    assert message.endswith("Vivotek rtsp://***@127.0.0.1:554/live.sdp); give the camera's RTSP URL with --rtsp URL.")
    assert all(brand.name in message for brand in BRANDS)
    assert PASSWORD not in message and ENCODED not in message and "admin" not in message


# --- the default probe: PyAV ------------------------------------------------------------------


def test_pyav_authenticates_with_the_percent_encoded_password_and_a_wrong_one_stops_resolve():
    with rtsp_login("admin", PASSWORD) as camera:
        # The right password reaches the camera intact (its digest checks out); that path then is 404.
        assert open_with_pyav(f"rtsp://admin:{ENCODED}@127.0.0.1:{camera.port}/nothing-here") is False
        assert camera.authorized == ["/nothing-here"]

        with pytest.raises(CredentialsRefusedError) as refused:
            resolve("127.0.0.1", user="admin", password="wrong:one", onvif_port=free_port(), rtsp_port=camera.port)

    assert str(refused.value) == f"The camera at 127.0.0.1:{camera.port} refused the user name or password (RTSP)."
    assert "wrong" not in str(refused.value) and refused.value.__suppress_context__  # PyAV's message has the URL
    assert camera.refused == ["/Streaming/Channels/101"]  # the first brand's path, and no other


def test_pyav_without_credentials_at_a_camera_that_wants_them():
    with rtsp_login("admin", PASSWORD) as camera, pytest.raises(CredentialsRefusedError) as refused:
        open_with_pyav(f"rtsp://127.0.0.1:{camera.port}/stream")

    assert str(refused.value) == f"The camera at 127.0.0.1:{camera.port} needs a user name and password (RTSP)."


def test_pyav_at_a_port_where_nothing_listens_is_just_no():
    assert open_with_pyav(f"rtsp://127.0.0.1:{free_port()}/stream") is False


class RtspLogin:
    """What :func:`rtsp_login` serves: RTSP that answers OPTIONS and checks DESCRIBE's Digest credentials.

    A DESCRIBE with the right digest gets 404 (no stream lives here; the login is what is
    tested), any other 401 with a Digest challenge, as cameras answer. ``authorized`` and
    ``refused`` list the paths asked, for each outcome (a client's first, unauthenticated try
    at a path is not counted).
    """

    REALM, NONCE = "camera", "5f0c3a"

    def __init__(self, user: str, password: str):
        self.user, self.password = user, password
        self.authorized: list[str] = []
        self.refused: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.stopping = threading.Event()

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            threading.Thread(target=self.talk, args=(connection,), daemon=True).start()

    def talk(self, connection: socket.socket) -> None:
        pending = b""
        with connection:
            while data := connection.recv(4096):
                pending += data
                while b"\r\n\r\n" in pending:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    connection.sendall(self.answer(head.decode()).encode())

    def answer(self, head: str) -> str:
        request, *lines = head.split("\r\n")
        method, uri, _ = request.split(" ")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        status = "200 OK\r\nPublic: OPTIONS, DESCRIBE"
        if method != "OPTIONS":
            path = "/" + uri.split("/", 3)[3]
            authorization = headers.get("authorization")
            if authorization and self.digest_is_right(method, authorization):
                self.authorized.append(path)
                status = "404 Not Found"
            else:
                if authorization:
                    self.refused.append(path)
                status = f'401 Unauthorized\r\nWWW-Authenticate: Digest realm="{self.REALM}", nonce="{self.NONCE}"'
        return f"RTSP/1.0 {status}\r\nCSeq: {headers.get('cseq', '0')}\r\n\r\n"

    def digest_is_right(self, method: str, authorization: str) -> bool:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', authorization))

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        secret = md5(f"{self.user}:{self.REALM}:{self.password}")
        request = md5(f"{method}:{fields.get('uri', '')}")
        expected = md5(f"{secret}:{self.NONCE}:{request}")
        return fields.get("username") == self.user and fields.get("response") == expected


@contextlib.contextmanager
def rtsp_login(user: str, password: str) -> Iterator[RtspLogin]:
    camera = RtspLogin(user, password)
    thread = threading.Thread(target=camera.serve, daemon=True)
    thread.start()
    try:
        yield camera
    finally:
        camera.stopping.set()
        thread.join()
        camera.server.close()
