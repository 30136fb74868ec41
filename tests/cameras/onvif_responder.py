"""A fake ONVIF camera on 127.0.0.1 for the camera tests: WS-Discovery over UDP, SOAP over HTTP.

It answers what a real camera answers to what trio asks, and nothing more:

- a WS-Discovery ``Probe`` sent to its UDP port gets a ``ProbeMatches`` (built and parsed with
  WSDiscovery's own message classes, as a camera's firmware would build it) whose XAddrs point
  at its HTTP port and whose scopes carry the camera's name and hardware;
- ``POST /onvif/device_service`` and ``/onvif/media_service`` answer GetSystemDateAndTime and
  GetServices (those need no credentials, as the ONVIF core spec says), GetDeviceInformation,
  GetProfiles and GetStreamUri (those do, unless ``anonymous``). onvif-zeep-async asks
  GetCapabilities only of a camera whose GetServices fails, which this one never does.

Credentials are checked the way ONVIF cameras check them: a WS-Security UsernameToken whose
PasswordDigest is Base64(SHA-1(nonce + created + password)), and whose Created time is
within a minute of the camera's clock (``clock_offset`` seconds off the real time). A wrong or missing token gets a
SOAP 1.2 fault ``env:Sender / ter:NotAuthorized`` with HTTP status ``auth_failure_status``:
400 as the ONVIF core spec has it (Dahua, Axis), or 401 as Hikvision and others send.

Everything here listens on 127.0.0.1 only and sends only to the address a probe came from.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from wsdiscovery.actions import NS_ACTION_PROBE, constructProbeMatch
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.qname import QName
from wsdiscovery.scope import Scope
from wsdiscovery.service import Service
from wsdiscovery.util import filterServices

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DEVICE = "http://www.onvif.org/ver10/device/wsdl"
MEDIA = "http://www.onvif.org/ver10/media/wsdl"
SCHEMA = "http://www.onvif.org/ver10/schema"
NETWORK = "http://www.onvif.org/ver10/network/wsdl"

# ONVIF core spec, 5.9.4.3: what a client may ask before it authenticates.
PRE_AUTH = frozenset({"GetSystemDateAndTime", "GetServices", "GetCapabilities", "GetWsdlUrl", "GetEndpointReference"})


@dataclass(frozen=True)
class FakeProfile:
    """One media profile of the fake camera, and the stream URI GetStreamUri gives for it."""

    name: str
    token: str
    width: int
    height: int
    encoding: str = "H264"
    uri: str = "rtsp://127.0.0.1:8554/stream"


class OnvifResponder:
    """A camera that speaks ONVIF on loopback; a context manager that starts and stops it.

    ``udp_address`` is what ``discover(address=...)`` probes; ``http_port`` is the ONVIF port
    for ``stream_uri``. ``calls`` lists the SOAP operations asked, in order.
    """

    def __init__(
        self,
        *,
        user: str = "admin",
        password: str = "secret",
        anonymous: bool = False,
        manufacturer: str = "Acme",
        model: str = "AC-100",
        name: str = "Front Door",
        hardware: str = "AC-100",
        profiles: tuple[FakeProfile, ...] | None = None,
        auth_failure_status: int = 400,
        clock_offset: float = 0.0,
    ):
        self.user, self.password, self.anonymous = user, password, anonymous
        self.manufacturer, self.model, self.name, self.hardware = manufacturer, model, name, hardware
        self.profiles = profiles or (
            FakeProfile("mainStream", "Profile_1", 1920, 1080, uri="rtsp://127.0.0.1:8554/stream"),
            FakeProfile("subStream", "Profile_2", 640, 360, uri="rtsp://127.0.0.1:8554/sub"),
        )
        self.auth_failure_status = auth_failure_status
        self.clock_offset = clock_offset
        self.calls: list[str] = []
        self.epr = uuid.uuid4().urn
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", 0))
        self._udp.settimeout(0.1)
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._answer_probes, daemon=True),
        ]

    @property
    def http_port(self) -> int:
        return self._http.server_address[1]

    @property
    def udp_address(self) -> str:
        return f"127.0.0.1:{self._udp.getsockname()[1]}"

    @property
    def xaddr(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/onvif/device_service"

    def __enter__(self) -> OnvifResponder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join()
        self._udp.close()

    # --- WS-Discovery -------------------------------------------------------------------------

    def _answer_probes(self) -> None:
        service = Service(
            [QName(NETWORK, "NetworkVideoTransmitter", "dn"), QName(DEVICE, "Device", "tds")],
            [
                Scope("onvif://www.onvif.org/type/video_encoder"),
                Scope(f"onvif://www.onvif.org/name/{self.name}"),
                Scope(f"onvif://www.onvif.org/hardware/{self.hardware}"),
                Scope("onvif://www.onvif.org/location/country/nowhere"),
            ],
            [self.xaddr],
            self.epr,
            1,
        )
        while not self._stopping.is_set():
            try:
                data, sender = self._udp.recvfrom(0xFFFF)
            except TimeoutError:
                continue
            except OSError:
                return
            probe = parseSOAPMessage(data, sender[0])
            if probe is None or probe.getAction() != NS_ACTION_PROBE:
                continue
            matching = filterServices([service], probe.getTypes() or None, probe.getScopes() or None)
            if matching:
                reply = constructProbeMatch(matching, probe.getMessageId())
                self._udp.sendto(createSOAPMessage(reply).encode(), sender)

    # --- SOAP ---------------------------------------------------------------------------------

    def answer(self, body: bytes) -> tuple[int, str]:
        """(HTTP status, SOAP envelope) for one request."""
        envelope = ElementTree.fromstring(body)
        request = envelope.find(f"{{{SOAP}}}Body")[0]
        operation = request.tag.rpartition("}")[2]
        self.calls.append(operation)
        if operation not in PRE_AUTH and not self._authorized(envelope):
            return self.auth_failure_status, _fault("ter:NotAuthorized", "Sender not Authorized")
        answer = getattr(self, f"_{operation}", None)
        if answer is None:
            return 400, _fault("ter:ActionNotSupported", f"{operation} is not supported", code="env:Receiver")
        return 200, _envelope(answer(request))

    def _authorized(self, envelope: ElementTree.Element) -> bool:
        token = envelope.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return self.anonymous
        username = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if username != self.user or password is None or nonce is None or created is None:
            return False
        if not password.get("Type", "").endswith("#PasswordDigest"):
            return False
        signed_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        if abs((signed_at - self._now()).total_seconds()) > 60:
            return False
        digest = hashlib.sha1(base64.b64decode(nonce) + created.encode() + self.password.encode()).digest()
        return (password.text or "").strip() == base64.b64encode(digest).decode()

    def _now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

    def _GetSystemDateAndTime(self, request) -> str:
        now = self._now()
        return (
            f'<tds:GetSystemDateAndTimeResponse xmlns:tds="{DEVICE}" xmlns:tt="{SCHEMA}"><tds:SystemDateAndTime>'
            "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _GetServices(self, request) -> str:
        services = "".join(
            f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace><tds:XAddr>{self._url(path)}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for namespace, path in ((DEVICE, "device_service"), (MEDIA, "media_service"))
        )
        return f'<tds:GetServicesResponse xmlns:tds="{DEVICE}" xmlns:tt="{SCHEMA}">{services}</tds:GetServicesResponse>'

    def _GetDeviceInformation(self, request) -> str:
        return (
            f'<tds:GetDeviceInformationResponse xmlns:tds="{DEVICE}">'
            f"<tds:Manufacturer>{escape(self.manufacturer)}</tds:Manufacturer><tds:Model>{escape(self.model)}</tds:Model>"
            "<tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>0001</tds:SerialNumber>"
            "<tds:HardwareId>1</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    def _GetProfiles(self, request) -> str:
        profiles = "".join(
            f'<trt:Profiles token="{p.token}" fixed="true"><tt:Name>{escape(p.name)}</tt:Name>'
            f'<tt:VideoEncoderConfiguration token="enc_{p.token}"><tt:Name>enc</tt:Name><tt:UseCount>1</tt:UseCount>'
            f"<tt:Encoding>{p.encoding}</tt:Encoding><tt:Resolution><tt:Width>{p.width}</tt:Width>"
            f"<tt:Height>{p.height}</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality>"
            "</tt:VideoEncoderConfiguration></trt:Profiles>"
            for p in self.profiles
        )
        return f'<trt:GetProfilesResponse xmlns:trt="{MEDIA}" xmlns:tt="{SCHEMA}">{profiles}</trt:GetProfilesResponse>'

    def _GetStreamUri(self, request) -> str | None:
        token = request.findtext(f"{{{MEDIA}}}ProfileToken")
        uri = next((p.uri for p in self.profiles if p.token == token), None)
        if uri is None:
            raise _NoProfile(token)
        return (
            f'<trt:GetStreamUriResponse xmlns:trt="{MEDIA}" xmlns:tt="{SCHEMA}"><trt:MediaUri>'
            f"<tt:Uri>{escape(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/onvif/{path}"


class _NoProfile(Exception):
    pass


def _envelope(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP}"><env:Body>{body}</env:Body></env:Envelope>'


def _fault(subcode: str, reason: str, code: str = "env:Sender") -> str:
    return _envelope(
        '<env:Fault xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<env:Code><env:Value>{code}</env:Value><env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason></env:Fault>'
    )


def _handler(camera: OnvifResponder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path not in ("/onvif/device_service", "/onvif/media_service"):
                status, reply = 404, ""
            else:
                try:
                    status, reply = camera.answer(body)
                except _NoProfile as missing:
                    status, reply = 400, _fault("ter:NoProfile", f"no profile {missing}")
            data = reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet in tests
            pass

    return Handler
