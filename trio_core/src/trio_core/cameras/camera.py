"""What trio knows of a network camera: its ONVIF service's address, who it is, and the streams it offers.

Both ONVIF rooms share these: :mod:`trio_core.cameras.onvif` (the API, no ONVIF library) builds
them from probe answers, and :mod:`trio_core.onvif` (the extra that talks to the libraries)
fills in what the camera says about itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trio_core.cameras.urls import split_address

ONVIF_PORT = 80  # most cameras; others use 8000, 8080, or 2020 (TP-Link Tapo)


@dataclass(frozen=True)
class Profile:
    """One ONVIF media profile: a stream the camera offers (main, sub...) and its video encoding."""

    name: str
    token: str
    width: int | None = None
    height: int | None = None
    encoding: str | None = None  # "H264", "H265", "JPEG"...


@dataclass(frozen=True)
class Camera:
    """An ONVIF camera that answered a WS-Discovery probe, with what it told about itself.

    ``address`` is ``host[:port]`` of its ONVIF service (the port only when it is not 80), what
    :func:`stream_uri` takes. ``name`` and the fallback ``model`` come from the probe's scopes
    (``onvif://www.onvif.org/name/...``, ``.../hardware/...``); ``manufacturer``, ``model`` and
    ``profiles`` from GetDeviceInformation and GetProfiles when the camera answers those (many
    want credentials first: then ``error`` says so and those stay empty).
    """

    address: str
    xaddr: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    profiles: tuple[Profile, ...] = ()
    scopes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def host(self) -> str:
        return split_address(self.address, ONVIF_PORT)[0]

    @property
    def port(self) -> int:
        return split_address(self.address, ONVIF_PORT)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: for ``trio cam --json`` and the server."""
        data = asdict(self)
        data["profiles"] = [asdict(profile) for profile in self.profiles]
        data["scopes"] = list(self.scopes)
        return data
