"""One ONVIF conversation with a camera, through onvif-zeep-async: who it is, its profiles, a stream URI.

With a user name every call carries a WS-Security UsernameToken with a PasswordDigest (the
password itself never crosses the network); without one, the library's ``authless_`` calls
go unsigned, for cameras that allow anonymous access. What the libraries raise (zeep faults,
aiohttp errors, timeouts) becomes one of trio's sentences here, and only here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import zeep.exceptions

from trio_core.cameras.camera import ONVIF_PORT, Profile
from trio_core.cameras.errors import CredentialsRefusedError, OnvifUnavailableError
from trio_core.cameras.urls import address
from trio_core.errors import TrioError
from trio_core.onvif._library import onvif

MEDIA = onvif.SERVICES["media"]["ns"]
RTP_OVER_RTSP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
PORTS = "often 80, 8000, 8080 or 2020"

_T = TypeVar("_T")


class _Conversation:
    """An ``ONVIFCamera`` and the choice of signed or anonymous calls.

    With ``on_camera_time`` the library first asks the camera's clock (GetSystemDateAndTime,
    unsigned) and dates its signatures by it; :meth:`media` must then come first, as that is
    where it asks.
    """

    def __init__(self, host: str, port: int, user: str | None, password: str | None, on_camera_time: bool = False):
        self.where = address(host, port, ONVIF_PORT)
        self.anonymous = user is None
        proxies = {name: os.environ[name] for name in ("http_proxy", "https_proxy") if name in os.environ}
        self.camera = onvif.ONVIFCamera(
            host, port, user, None if user is None else password, no_cache=True, adjust_time=on_camera_time
        )
        # ONVIFCamera() deletes these from the whole process's environment; the rest of trio may need them.
        os.environ.update(proxies)

    async def call(self, service: Any, operation: str, params: dict | None = None) -> Any:
        method = getattr(service, f"authless_{operation}" if self.anonymous else operation)
        return await method(params)

    async def device(self) -> Any:
        return await self.camera.create_devicemgmt_service()

    async def media(self) -> Any:
        if self.anonymous:
            # update_xaddrs() signs its GetServices, and signing needs a user name. GetServices needs
            # no credentials (ONVIF core spec, "pre-auth"), so ask it unsigned.
            services = await (await self.device()).authless_GetServices({"IncludeCapability": False})
            for service in services or []:
                if service.Namespace and service.XAddr:
                    self.camera.xaddrs[service.Namespace] = service.XAddr
        else:
            await self.camera.update_xaddrs()
        if MEDIA not in self.camera.xaddrs:
            raise OnvifUnavailableError(
                f"The camera at {self.where} has no ONVIF media service: give the camera's RTSP URL instead.",
                reason="the camera has no ONVIF media service",
            )
        return await self.camera.create_media_service()

    async def profiles(self, media: Any) -> list[Any]:
        return list(await self.call(media, "GetProfiles") or [])


async def device_details(
    host: str, port: int, user: str | None, password: str | None, timeout: float
) -> tuple[str | None, str | None, list[Profile]]:
    """(manufacturer, model, profiles) from GetDeviceInformation and GetProfiles."""

    async def talk(conversation: _Conversation) -> tuple[str | None, str | None, list[Profile]]:
        profiles = await conversation.profiles(await conversation.media())
        info = await conversation.call(await conversation.device(), "GetDeviceInformation")
        return info.Manufacturer, info.Model, [_profile(p) for p in profiles]

    return await _converse(host, port, user, password, timeout, talk)


async def stream_uri(
    host: str, port: int, user: str | None, password: str | None, profile: str | None, timeout: float
) -> str:
    """The URI GetStreamUri gives for the first profile, or the one named (or with the token) ``profile``."""
    where = address(host, port, ONVIF_PORT)

    async def talk(conversation: _Conversation) -> str:
        media = await conversation.media()
        profiles = await conversation.profiles(media)
        if not profiles:
            raise OnvifUnavailableError(
                f"The camera at {where} has no ONVIF media profile: give the camera's RTSP URL instead.",
                reason="the camera has no ONVIF media profile",
            )
        chosen = profiles[0] if profile is None else next((p for p in profiles if profile in (p.Name, p.token)), None)
        if chosen is None:
            names = ", ".join(str(p.Name) for p in profiles)
            raise TrioError(f"The camera at {where} has no ONVIF profile {profile!r}: name one of {names}.")
        answer = await conversation.call(
            media, "GetStreamUri", {"StreamSetup": RTP_OVER_RTSP, "ProfileToken": chosen.token}
        )
        uri = getattr(answer, "Uri", None)
        if not uri:
            raise OnvifUnavailableError(
                f"The camera at {where} gave no stream URI for its profile {chosen.Name!r} (ONVIF): "
                "give the camera's RTSP URL instead.",
                reason="the camera gave no stream URI",
            )
        return str(uri)

    return await _converse(host, port, user, password, timeout, talk)


def _profile(profile: Any) -> Profile:
    video = getattr(profile, "VideoEncoderConfiguration", None)
    resolution = getattr(video, "Resolution", None)
    return Profile(
        name=str(profile.Name),
        token=str(profile.token),
        width=getattr(resolution, "Width", None),
        height=getattr(resolution, "Height", None),
        encoding=getattr(video, "Encoding", None),
    )


async def _converse(
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    timeout: float,
    talk: Callable[[_Conversation], Awaitable[_T]],
) -> _T:
    """``talk`` with the camera within ``timeout`` seconds, what goes wrong said in one sentence."""
    where = address(host, port, ONVIF_PORT)

    async def attempt(on_camera_time: bool) -> _T:
        conversation = _Conversation(host, port, user, password, on_camera_time)
        try:
            return await talk(conversation)
        finally:
            await conversation.camera.close()

    async def attempts() -> _T:
        try:
            return await attempt(on_camera_time=False)
        except zeep.exceptions.Fault as fault:
            if user is None or not onvif.util.is_auth_error(fault):
                raise
        # A password digest is dated: a camera whose clock is off refuses even the right password.
        # Once more on the camera's time (not always: Axis, for one, refuses the unsigned clock query).
        return await attempt(on_camera_time=True)

    await read_service_descriptions()
    try:
        return await asyncio.wait_for(attempts(), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise OnvifUnavailableError(
            f"The camera at {where} did not answer ONVIF within {timeout:g} s: check its address and ONVIF port ({PORTS}).",
            reason=f"port {port} did not answer within {timeout:g} s",
        ) from None
    except zeep.exceptions.Fault as fault:
        said = fault.message or "no reason given"
        if onvif.util.is_auth_error(fault):
            raise CredentialsRefusedError(where, "ONVIF", had_user=user is not None) from None
        if fault.code is None:  # zeep's "Unknown fault": the answer was no SOAP fault at all
            raise _not_onvif(where, port) from None
        raise OnvifUnavailableError(
            f"The camera at {where} answered ONVIF with an error ({said}): give the camera's RTSP URL instead.",
            reason=f"the camera answered ONVIF with an error ({said})",
        ) from None
    except zeep.exceptions.TransportError as error:
        if error.status_code == 401:  # HTTP authentication wanted (or refused) before any SOAP
            raise CredentialsRefusedError(where, "ONVIF", had_user=user is not None) from None
        raise _not_onvif(where, port) from None
    except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError):
        raise _not_onvif(where, port) from None
    except aiohttp.ClientConnectorDNSError:
        raise OnvifUnavailableError(
            f"{host} is not a host name that resolves: check the camera's address.", reason=f"{host} does not resolve"
        ) from None
    except aiohttp.ClientConnectorError as error:
        what = (
            "refused the connection" if isinstance(error.os_error, ConnectionRefusedError) else "could not be reached"
        )
        raise OnvifUnavailableError(
            f"{where} {what}: check the camera's address and its ONVIF port ({PORTS}).", reason=f"port {port} {what}"
        ) from None
    except aiohttp.ClientError as error:
        raise OnvifUnavailableError(
            f"The connection to {where} failed ({type(error).__name__}): check the camera's address and its ONVIF port ({PORTS}).",
            reason=f"the connection to port {port} failed",
        ) from None
    except onvif.ONVIFError as error:
        raise OnvifUnavailableError(
            f"The camera at {where} answered ONVIF in a way trio cannot use ({error}): give the camera's RTSP URL instead.",
            reason="the camera's ONVIF answer was unusable",
        ) from None


_descriptions_read = False


async def read_service_descriptions() -> None:
    """Have the library parse its device and media WSDL files (once, cached by it) before any camera's timeout runs.

    They take a fraction of a second here, seconds on a small board: CPU time that must not
    count as the camera's, nor be spent once per camera when discover() asks several at once.
    Building the two services sends nothing.
    """
    global _descriptions_read
    if _descriptions_read:
        return
    camera = _Conversation("127.0.0.1", ONVIF_PORT, None, None).camera
    try:
        await camera.create_devicemgmt_service()
        camera.xaddrs[MEDIA] = f"http://127.0.0.1:{ONVIF_PORT}/onvif/media_service"
        await camera.create_media_service()
    finally:
        await camera.close()
    _descriptions_read = True


def _not_onvif(where: str, port: int) -> OnvifUnavailableError:
    return OnvifUnavailableError(
        f"{where} answers HTTP but not ONVIF: check the camera's ONVIF port ({PORTS}), or give its RTSP URL.",
        reason=f"port {port} answers HTTP but not ONVIF",
    )
