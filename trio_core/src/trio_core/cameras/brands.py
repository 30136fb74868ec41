"""Where the big camera brands serve their main stream over RTSP, for cameras without (working) ONVIF.

:func:`trio_core.cameras.resolve` tries these in the order of :data:`BRANDS`: the most
common cameras first, so that a camera is usually found at the first or second URL (each
miss costs an RTSP connection). Every path is the brand's first channel, main stream, on
RTSP's port 554 unless the camera was configured otherwise. Where each comes from:

- Hikvision: ``/Streaming/Channels/101`` (channel 1, stream 01 = main; 102 is the sub
  stream), Hikvision's RTSP/ISAPI documentation. Also their OEMs (Annke, LTS, many others).
- Dahua: ``/cam/realmonitor?channel=1&subtype=0`` (subtype 1 is the sub stream), Dahua's
  HTTP API documentation; the same on Amcrest and Lorex, which run Dahua firmware.
- Reolink: ``/h264Preview_01_main``, Reolink's support article on RTSP (4K models set to
  H.265 serve ``/h265Preview_01_main``).
- TP-Link Tapo: ``/stream1`` (``/stream2`` is the sub stream), TP-Link's Tapo RTSP FAQ; the
  credentials are the "camera account" made in the Tapo app. Tapo's ONVIF port is 2020.
- Axis: ``/axis-media/media.amp``, Axis VAPIX media streaming documentation.
- Uniview: ``/unicast/c1/s0/live`` (``s1`` is the sub stream), Uniview's RTSP URL notes.
- Hanwha Vision (Wisenet, formerly Samsung Techwin): ``/profile2/media.smp``, Hanwha
  Vision's support article "RTSP URLs" (profile 2 is the H.264 default).
- Foscam: ``/videoMain`` (``/videoSub``), Foscam's HD camera CGI guide; older HD models
  serve RTSP on their HTTP port (88), so pass that as the RTSP port there.
- Vivotek: ``/live.sdp`` (stream 1; ``/live2.sdp`` for stream 2), Vivotek's support notes.

Not here: Ubiquiti UniFi Protect gives each camera's stream a secret token
(``rtsps://NVR:7441/<token>``) shown in its settings, which cannot be guessed: copy that URL
and pass it as ``--rtsp URL``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trio_core.cameras.urls import netloc, with_credentials

RTSP_PORT = 554


@dataclass(frozen=True)
class Brand:
    """A camera brand and the path (with query) of its first channel's main stream."""

    name: str
    path: str


BRANDS: tuple[Brand, ...] = (
    Brand("Hikvision", "/Streaming/Channels/101"),
    Brand("Dahua/Amcrest", "/cam/realmonitor?channel=1&subtype=0"),
    Brand("Reolink", "/h264Preview_01_main"),
    Brand("TP-Link Tapo", "/stream1"),
    Brand("Axis", "/axis-media/media.amp"),
    Brand("Uniview", "/unicast/c1/s0/live"),
    Brand("Hanwha Wisenet", "/profile2/media.smp"),
    Brand("Foscam", "/videoMain"),
    Brand("Vivotek", "/live.sdp"),
)


def candidate_urls(
    host: str, user: str | None = None, password: str | None = None, port: int = RTSP_PORT
) -> list[tuple[str, str]]:
    """``(brand, url)`` for every brand of :data:`BRANDS`, in order, credentials percent-encoded in the URL.

    The URLs carry the password: show them only through :func:`trio_core.credentials.masked`.
    """
    base = f"rtsp://{netloc(host, port)}"
    return [(brand.name, with_credentials(base + brand.path, user, password)) for brand in BRANDS]
