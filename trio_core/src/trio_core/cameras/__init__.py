"""Network cameras: find them, and get the RTSP URL of their stream.

Finding cameras: ``discover()``
-------------------------------

ONVIF cameras answer WS-Discovery: a SOAP message over UDP. ``discover()`` sends a Probe
for ONVIF's device type (NetworkVideoTransmitter) to the multicast group 239.255.255.250,
port 3702, on every network interface, and collects the ProbeMatches that come back within
the timeout (3 s). Each answer gives the camera's service address (XAddr, e.g.
``http://192.168.1.20/onvif/device_service``) and scopes; the scopes usually name the camera
and its hardware (``onvif://www.onvif.org/name/...``, ``.../hardware/...``). Then each
camera is asked, concurrently and for at most 3 s, GetDeviceInformation (maker, model) and
GetProfiles (its streams: name, resolution, encoding), anonymously or with the user name
and password given. Most cameras want credentials for those: such a camera is still listed,
with its name and hardware from the scopes and a note of what it refused. Multicast stays on
the local network segment: a camera behind a router is not found this way; give its
address. ``discover(address="HOST:PORT")`` sends the probe to that one host, unicast.

The stream URL over ONVIF: ``stream_uri()``
-------------------------------------------

``stream_uri(host, port=80, user=..., password=...)`` asks the camera's ONVIF service
(GetServices for the media service's address, then GetProfiles, then GetStreamUri for RTP
unicast over RTSP) for the URL of its first profile (usually the main stream), or of the
profile named with ``profile=``. Credentials travel as a WS-Security UsernameToken with a
password digest, so the password itself never crosses the network; the URL returned carries
``user:password@`` (percent-encoded) so that FFmpeg can authenticate to the RTSP stream.
A wrong password is one sentence, "The camera at HOST refused the user name or password
(ONVIF)."; so are "nothing listens there", "that port is not ONVIF" and a timeout. The
password is never in a message or a log line: URLs are shown through
``trio_core.credentials.masked``. The ONVIF port is 80 on most cameras; others use 8000,
8080, or 2020 (TP-Link Tapo). ONVIF authenticates with a timestamp: a camera whose clock is
far off may refuse a right password; set its clock (NTP).

Without ONVIF: the brands' URLs, and ``resolve()``
--------------------------------------------------

``resolve(host, user=..., password=...)`` returns ``(url, how)``: it tries ONVIF first
(``how == "onvif"``), then the usual RTSP URL of the big brands, in this order, on port 554,
and returns the first that opens (``how`` is the brand):

1. Hikvision: ``rtsp://HOST:554/Streaming/Channels/101``
2. Dahua, Amcrest, Lorex: ``/cam/realmonitor?channel=1&subtype=0``
3. Reolink: ``/h264Preview_01_main``
4. TP-Link Tapo: ``/stream1``
5. Axis: ``/axis-media/media.amp``
6. Uniview: ``/unicast/c1/s0/live``
7. Hanwha Wisenet: ``/profile2/media.smp``
8. Foscam: ``/videoMain``
9. Vivotek: ``/live.sdp``

Opening means PyAV connects over RTSP/TCP and the camera describes a stream (each URL gets
3 s to connect and 3 s per read; a miss is usually much faster). A camera that refuses the
credentials (RTSP 401) stops the search: "The camera at HOST refused the user name or
password (RTSP)." If nothing opens, the error lists the URLs tried (passwords masked) and
asks for the camera's own URL with ``--rtsp URL``. Ubiquiti UniFi Protect is not in the
list: its RTSP URLs carry a secret token, shown in its settings.

Why ONVIF is an extra of trio-core, not a plugin of its own
-----------------------------------------------------------

ONVIF is not a new kind of frame source: it is a way to find the RTSP URL that trio's own
RTSP source then opens, and ``trio cam`` and the server's camera endpoints are core
features that need it. A plugin would have to be registered through a hook that exists only
for it, and the core would have to reach into that plugin for discovery, which is the
dependency direction the architecture forbids. What ONVIF adds is dependencies, not
behaviour: WSDiscovery and onvif-zeep-async (with zeep, lxml, aiohttp), heavy for people who
only open files or known RTSP URLs. An extra is the tool for exactly that, as with
safetensors' frameworks: the code ships with trio-core, the libraries come with
``pip install 'trio-core[onvif]'``, and without them ``import trio_core`` is unchanged and
every ONVIF call says in one sentence how to install it: "ONVIF needs the onvif extra: run
`pip install 'trio-core[onvif]'`." The brand URLs and ``resolve()`` need no extra and
always work.

Layout: this package imports no ONVIF library; the code that talks to WSDiscovery and
onvif-zeep-async is ``trio_core.onvif``, the extra's subpackage, loaded by name when needed.
"""

from trio_core.cameras.brands import BRANDS, Brand, candidate_urls
from trio_core.cameras.camera import ONVIF_PORT, Camera, Profile
from trio_core.cameras.errors import CredentialsRefusedError, OnvifUnavailableError
from trio_core.cameras.onvif import MISSING_EXTRA, discover, stream_uri
from trio_core.cameras.resolver import open_with_pyav, resolve

__all__ = [
    "BRANDS",
    "MISSING_EXTRA",
    "ONVIF_PORT",
    "Brand",
    "Camera",
    "CredentialsRefusedError",
    "OnvifUnavailableError",
    "Profile",
    "candidate_urls",
    "discover",
    "open_with_pyav",
    "resolve",
    "stream_uri",
]
