"""ONVIF cameras: find them on the network (WS-Discovery) and ask one for its RTSP URL.

This module imports no ONVIF library. The conversation with the libraries (WSDiscovery,
onvif-zeep-async) is :mod:`trio_core.onvif`, installed by ``trio-core[onvif]`` and loaded
by name the first time it is needed; without the extra every call here raises one
sentence that says how to install it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
from collections.abc import Coroutine
from dataclasses import replace
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from trio_core.cameras.camera import ONVIF_PORT, Camera
from trio_core.cameras.errors import OnvifUnavailableError
from trio_core.cameras.urls import address as address_of
from trio_core.cameras.urls import split_address, with_credentials
from trio_core.errors import ConfigError, TrioError

MISSING_EXTRA = "ONVIF needs the onvif extra: run `pip install 'trio-core[onvif]'`."
# The follow-up calls of discover() (who the camera is, its profiles) are a courtesy: one
# camera that does not answer must not hold the listing up for long.
DETAILS_TIMEOUT = 3.0
_SCOPE = "onvif://www.onvif.org/"

_T = TypeVar("_T")


def discover(
    timeout: float = 3.0, *, address: str | None = None, user: str | None = None, password: str | None = None
) -> list[Camera]:
    """The ONVIF cameras that answer a WS-Discovery probe within ``timeout`` seconds.

    Without ``address`` the probe goes to the standard multicast group (239.255.255.250:3702)
    on every interface, as ONVIF clients do; with ``address`` (``"HOST:PORT"``) it is sent to
    that one host only, unicast. Each camera is then asked, briefly and concurrently, for its
    maker, model and profiles (anonymously, or with ``user``/``password``); a camera that does
    not answer those is still listed, with what its probe answer said and ``error`` set.
    """
    onvif = _implementation()
    if address is None:
        matches = onvif.probe_network(timeout)
    else:
        host, port = split_address(address, 0)
        if not port:
            raise ConfigError(
                f"The discovery address {address!r} has no port: write it as HOST:PORT, e.g. 127.0.0.1:3702."
            )
        matches = onvif.probe_host(host, port, timeout)

    async def describe_all() -> list[Camera]:
        cameras = [_camera(match.xaddrs, match.scopes) for match in matches]
        cameras = [camera for camera in cameras if camera is not None]
        if cameras:
            await onvif.read_service_descriptions()  # once, not once per camera
        return list(await asyncio.gather(*(_describe(onvif, camera, user, password) for camera in cameras)))

    return _run(describe_all())


def stream_uri(
    host: str,
    *,
    port: int = ONVIF_PORT,
    user: str | None = None,
    password: str | None = None,
    profile: str | None = None,
    timeout: float = 10,
) -> str:
    """The RTSP URL of a camera's stream, asked over ONVIF, with the credentials in it for PyAV.

    GetProfiles, then GetStreamUri (RTP unicast over RTSP) for the first profile, or the one
    whose name or token is ``profile``. ``host`` may carry the port (``Camera.address``). The
    URL carries ``user:password@`` percent-encoded: show it only through
    :func:`trio_core.credentials.masked`. A wrong password raises
    :class:`~trio_core.cameras.errors.CredentialsRefusedError`; no ONVIF there (nothing
    listening, not ONVIF, a timeout, no profile) raises
    :class:`~trio_core.cameras.errors.OnvifUnavailableError`; each is one sentence.
    """
    host, port = split_address(host, port)
    onvif = _implementation()
    uri = _run(onvif.stream_uri(host, port, user, password, profile, timeout))
    return with_credentials(uri, user, password)


def _implementation() -> ModuleType:
    """:mod:`trio_core.onvif`, or the sentence that says how to install it."""
    try:
        return importlib.import_module("trio_core.onvif")
    except ImportError as error:
        if (error.name or "").startswith("trio_core"):
            raise  # our own bug, not a missing extra
        raise OnvifUnavailableError(MISSING_EXTRA, reason="the onvif extra is not installed") from None


def _camera(xaddrs: tuple[str, ...], scopes: tuple[str, ...]) -> Camera | None:
    """What a probe answer tells, or None for one without an HTTP address to reach the camera at."""
    usable = [x for x in xaddrs if urlsplit(x).scheme in ("http", "https") and urlsplit(x).hostname]
    # A camera lists an address per interface; the first IPv4 one is the one a LAN client uses.
    usable.sort(key=lambda x: ":" in (urlsplit(x).hostname or ""))
    if not usable:
        return None
    xaddr = usable[0]
    parts = urlsplit(xaddr)
    default = 443 if parts.scheme == "https" else ONVIF_PORT
    return Camera(
        address=address_of(parts.hostname, parts.port or default, ONVIF_PORT),
        xaddr=xaddr,
        name=_scope(scopes, "name"),
        model=_scope(scopes, "hardware"),
        scopes=tuple(scopes),
    )


def _scope(scopes: tuple[str, ...], key: str) -> str | None:
    """The value of ``onvif://www.onvif.org/<key>/<value>``, percent-decoded."""
    prefix = f"{_SCOPE}{key}/"
    for scope in scopes:
        if scope.startswith(prefix) and scope[len(prefix) :]:
            return unquote(scope[len(prefix) :])
    return None


async def _describe(onvif: ModuleType, camera: Camera, user: str | None, password: str | None) -> Camera:
    try:
        manufacturer, model, profiles = await onvif.device_details(
            camera.host, camera.port, user, password, DETAILS_TIMEOUT
        )
    except TrioError as error:
        return replace(camera, error=str(error))
    return replace(camera, manufacturer=manufacturer, model=model or camera.model, profiles=tuple(profiles))


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run the libraries' async calls to the end, also when the caller is itself inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
