"""Webcams and other capture devices, through PyAV's input devices: :class:`WebcamSource`.

``webcam://0`` is the first camera of the platform's capture API: V4L2 on Linux
(``/dev/video0``), AVFoundation on macOS (device 0), DirectShow on Windows (the first video
device, by name). A device can also be named outright: ``webcam:///dev/video2`` on Linux,
``webcam://Integrated Camera`` on Windows. Any FFmpeg input device may be asked for with
``?format=``, which is how the tests, which have no camera, read FFmpeg's virtual ``lavfi``
device through this same code (``webcam://testsrc2=size=320x240:rate=10?format=lavfi``).
Query parameters ``video_size``, ``framerate`` and ``input_format`` (V4L2's pixel or
compressed format, e.g. ``mjpeg``) are passed to the device, as the same-named settings are
(``--source webcam.video_size=1280x720``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from pydantic import Field

from ..errors import MediaError
from ..frames import MAX_PIXELS, SamplingPlan
from .base import FrameSource
from .live import LiveFrames, LiveSettings, Opened, Refused

if TYPE_CHECKING:
    from ..config import EngineConfig

# The capture API FFmpeg calls each platform's cameras by.
PLATFORM_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}
DEVICE_OPTIONS = ("video_size", "framerate", "input_format", "pixel_format")

# What a request over HTTP may have FFmpeg's lavfi device make: test patterns and filters that read no file and
# open no URL (``movie=``, ``amovie=``, ``sendcmd=f=``, ``drawtext=textfile=``, ``zmq`` ... do, so they are not here),
# each with the options it may take and the form of their values. An allow-list, not a deny-list: a filter or an
# option FFmpeg adds tomorrow is refused until someone reads what it does. No expressions (``scale=w=64+n*100``
# grows the frames without bound), sizes within the pixel cap, rates a camera has.
_SIZE, _RATE, _WORD, _NUMBER = r"\d{1,5}x\d{1,5}", r"\d{1,5}(\.\d{1,3})?(/\d{1,5})?", r"[a-z0-9]{1,32}", r"\d{1,5}"
_PATTERN_OPTIONS = {"size": _SIZE, "s": _SIZE, "rate": _RATE, "r": _RATE, "duration": _RATE, "d": _RATE}
LAVFI_PATTERNS = {
    name: _PATTERN_OPTIONS
    for name in ("testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "yuvtestsrc", "pal75bars",
                 "pal100bars")
} | {"color": {**_PATTERN_OPTIONS, "color": _WORD, "c": _WORD}}  # fmt: skip
LAVFI_FILTERS = {
    "realtime": {}, "hflip": {}, "vflip": {}, "scale": {"w": _NUMBER, "h": _NUMBER}, "fps": {"fps": _RATE},
    "format": {"pix_fmts": _WORD}, "transpose": {"dir": _WORD},
}  # fmt: skip
MAX_LAVFI_RATE = 60.0
# Nothing that quotes, escapes, labels pads or starts a second chain: the graph splits on ',' and ':' exactly as
# FFmpeg's parser does.
_LAVFI_FILTER = re.compile(r"^(?P<name>[a-z0-9_]+)(=(?P<options>[A-Za-z0-9_.:=/]*))?$")
_V4L2_NODE = re.compile(r"^/dev/video\d+$")


class WebcamSettings(LiveSettings):
    video_size: str | None = Field(None, pattern=r"^\d+x\d+$", description="Capture size, e.g. 1280x720.")
    framerate: str | None = Field(None, pattern=r"^\d+(\.\d+)?(/\d+)?$", description="Capture rate, e.g. 30.")
    input_format: str | None = Field(None, description="V4L2 capture format, e.g. mjpeg (less USB bandwidth).")


@dataclass(frozen=True)
class Device:
    """Where a ``webcam://`` target points: an FFmpeg input ``format``, its ``file`` and ``options``."""

    format: str
    file: str
    options: dict[str, str]
    index: int | None = None  # the camera's number, when it was asked for by number


def platform_format() -> str:
    return PLATFORM_FORMATS.get(sys.platform, "v4l2")


def parse_webcam(target: str, settings: WebcamSettings | None = None) -> Device:
    """A ``webcam://`` target (or a bare index such as ``"0"``) as the FFmpeg input to open."""
    settings = settings or WebcamSettings()
    text = target.removeprefix("webcam://")
    name, _, query = text.partition("?")
    name = unquote(name)
    given = dict(parse_qsl(query))
    unknown = sorted(set(given) - {"format", *DEVICE_OPTIONS})
    if unknown:
        raise MediaError(
            f"'{target}' has parameters trio does not know: {', '.join(unknown)} "
            f"(known: format, {', '.join(DEVICE_OPTIONS)})."
        )
    options = {key: str(getattr(settings, key)) for key in DEVICE_OPTIONS if getattr(settings, key, None)}
    options.update({key: value for key, value in given.items() if key in DEVICE_OPTIONS})
    container_format = given.get("format") or platform_format()
    if not name:
        name = "0"
    index = int(name) if name.isdigit() else None
    if container_format == "v4l2" and index is not None:
        return Device("v4l2", f"/dev/video{index}", options, index)
    if container_format == "dshow":
        if index is not None:
            cameras = list_webcams()
            if index >= len(cameras):
                raise MediaError(_no_such_camera(index, cameras))
            name = cameras[index].name
        return Device("dshow", f"video={name}", options, index)
    if container_format == "avfoundation" and index is not None:
        return Device("avfoundation", f"{index}:none", options, index)
    return Device(container_format, name, options, index)


class NotACaptureDevice(MediaError):
    """A ``webcam://`` target a remote request may not open: it names a file, a URL or an FFmpeg format or filter
    outside the allow-list (see :func:`check_requested_device`)."""


def check_requested_device(target: str) -> Device:
    """The device of a ``webcam://`` target named by a request over HTTP, or :class:`NotACaptureDevice`.

    FFmpeg's input formats and filters can read any file (``?format=image2``, ``movie=``) and open URLs, so a
    request may name only a capture device of the platform's API (``/dev/videoN`` on Linux, a number or a
    device name elsewhere) or a lavfi test pattern made of :data:`LAVFI_PATTERNS` and :data:`LAVFI_FILTERS`.
    A local user (the CLI, the watches file) keeps FFmpeg's full freedom.
    """
    device = parse_webcam(target)
    label = target.partition("?")[0]
    if device.format == "lavfi":
        for position, text in enumerate(device.file.split(",")):
            _check_lavfi_filter(text, LAVFI_PATTERNS if position == 0 else LAVFI_FILTERS, label)
        return device
    if device.format != platform_format():
        raise NotACaptureDevice(
            f"'{label}' asks for FFmpeg's {device.format!r} input, which can read files: over HTTP a webcam source "
            f"names a camera of this machine ({platform_format()}) or a lavfi test pattern."
        )
    if device.format == "v4l2" and not _V4L2_NODE.match(device.file):
        raise NotACaptureDevice(
            f"'{label}' is not a capture device: over HTTP a webcam source names a camera as webcam://N or "
            "webcam:///dev/videoN."
        )
    return device


def _check_lavfi_filter(text: str, allowed: dict[str, dict[str, str]], label: str) -> None:
    """One filter of a requested lavfi graph: allowed, with allowed options of the allowed form (see LAVFI_PATTERNS)."""
    from ..frames import MAX_PIXELS

    def refuse(why: str) -> NotACaptureDevice:
        return NotACaptureDevice(
            f"'{label}' asks FFmpeg's lavfi device for {why}: over HTTP it makes only a test pattern "
            f"({', '.join(LAVFI_PATTERNS)}) with name=value options (size, rate, duration), followed by "
            f"{', '.join(LAVFI_FILTERS)}."
        )

    match = _LAVFI_FILTER.match(text)
    if match is None or match["name"] not in allowed:
        raise refuse(f"more than a test pattern ({text!r})")
    known = allowed[match["name"]]
    for option in filter(None, (match["options"] or "").split(":")):
        key, equals, value = option.partition("=")
        if not equals or key not in known or not re.fullmatch(known[key], value):
            raise refuse(f"an option it does not allow ({option!r} of {match['name']})")
        if known[key] == _SIZE and math.prod(int(side) for side in value.split("x")) > MAX_PIXELS:
            raise refuse(f"frames larger than trio decodes ({value})")
        if known[key] == _RATE and key not in ("duration", "d") and not 0 < _rate(value) <= MAX_LAVFI_RATE:
            raise refuse(f"a rate that is not above 0 and at most {MAX_LAVFI_RATE:g} frames a second ({value})")
        if match["name"] == "scale" and int(value) > 4096:
            raise refuse(f"frames larger than trio decodes ({key}={value})")


def _rate(value: str) -> float:
    try:
        return float(Fraction(value))
    except (ValueError, ZeroDivisionError):
        return 0.0


class WebcamSource(FrameSource):
    """Webcams (see the module's docstring): live, reconnected when unplugged and plugged back in."""

    name = "webcam"
    schemes = ("webcam",)
    live = True
    Settings = WebcamSettings

    def check(self, target, config: EngineConfig) -> None:
        check_device(parse_webcam(str(target), self.settings_from(config)))

    def open(self, target, plan: SamplingPlan, config: EngineConfig) -> LiveFrames:
        settings = self.settings_from(config)
        device = parse_webcam(str(target), settings)
        label = str(target)
        return LiveFrames(lambda: open_device(device, settings, label, plan.max_pixels), plan, settings, label=label)


def open_device(device: Device, settings: WebcamSettings, label: str, max_pixels: int = MAX_PIXELS) -> Opened:
    """Open a capture device, or raise one :class:`MediaError` sentence saying why not."""

    check_device(device)
    # max_pixels: FFmpeg may decode a frame while it opens the device; a larger one is refused there.
    options = {**device.options, "max_pixels": str(max_pixels)}
    return Opened.input(
        device.file, format=device.format, options=options, settings=settings,
        failed=lambda error: _device_error(label, device, settings, error), no_video=f"'{label}' gives no video.",
    )  # fmt: skip


def check_device(device: Device) -> None:
    """A V4L2 camera that is not there is one sentence listing those that are."""
    if device.format == "v4l2" and not Path(device.file).exists():
        if device.index is not None:
            raise MediaError(_no_such_camera(device.index, list_webcams()))
        raise MediaError(f"There is no capture device {device.file}: `trio webcam --list` lists the cameras.")


def _device_error(label: str, device: Device, settings: WebcamSettings, error: BaseException) -> MediaError:
    import av

    code = getattr(error, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        hint = "add your user to the 'video' group" if device.format == "v4l2" else "allow camera access"
        return Refused(f"trio may not open the camera {label} (permission denied): {hint}.")
    if code == errno.EBUSY:
        return MediaError(f"The camera {label} is in use by another program: close it, or pick another camera.")
    if isinstance(error, (av.error.ExitError, av.error.TimeoutError)):
        return MediaError(
            f"The camera {label} gave no picture within {settings.open_timeout_s:g} s "
            "(or raise --source webcam.open_timeout_s)."
        )
    reason = getattr(error, "strerror", None) or str(error)
    return MediaError(f"The camera {label} could not be opened ({device.format} {device.file}): {reason}.")


@dataclass(frozen=True)
class Webcam:
    """A camera this machine has: its number for ``webcam://N``, its name, and its device."""

    index: int
    name: str
    device: str

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "device": self.device, "url": f"webcam://{self.index}"}


def list_webcams() -> list[Webcam]:
    """The cameras this machine has, where the platform can tell: V4L2 nodes on Linux, FFmpeg's device list elsewhere."""
    if platform_format() == "v4l2":
        return _v4l2_cameras()
    return _listed_by_ffmpeg(platform_format())


def _v4l2_cameras() -> list[Webcam]:
    cameras = []
    for node in sorted(Path("/dev").glob("video*"), key=lambda path: (len(path.name), path.name)):
        number = node.name.removeprefix("video")
        if not number.isdigit():
            continue
        sysfs = Path("/sys/class/video4linux") / node.name
        name = _read(sysfs / "name") or node.name
        # A USB camera has several nodes; the one with index 0 captures, the others carry metadata.
        if _read(sysfs / "index") not in (None, "0"):
            continue
        cameras.append(Webcam(int(number), name, str(node)))
    return cameras


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _listed_by_ffmpeg(container_format: str) -> list[Webcam]:
    """AVFoundation and DirectShow print their devices to FFmpeg's log when asked to list them."""
    import re

    import av

    with av.logging.Capture() as logs, contextlib.suppress(av.FFmpegError):  # listing "fails" to open anything
        av.open(
            "dummy" if container_format == "dshow" else "", format=container_format, options={"list_devices": "true"}
        )
    cameras, in_video = [], container_format == "dshow"
    for _, _, line in logs:
        text = line.strip()
        if "video devices" in text.lower():
            in_video = True
            continue
        if "audio devices" in text.lower():
            in_video = False
            continue
        if not in_video:
            continue
        if container_format == "avfoundation":
            match = re.match(r"\[(\d+)\] (.+)", text)
            if match:
                cameras.append(Webcam(int(match.group(1)), match.group(2), match.group(1)))
        else:
            match = re.match(r'"(.+)" \(video\)', text)
            if match:
                cameras.append(Webcam(len(cameras), match.group(1), f"video={match.group(1)}"))
    return cameras


def _no_such_camera(index: int, cameras: list[Webcam]) -> str:
    if not cameras:
        return f"There is no webcam {index}: this machine has no camera trio can see (`trio webcam --list`)."
    found = ", ".join(f"{camera.index} ({camera.name})" for camera in cameras)
    return f"There is no webcam {index}: this machine has {found} (`trio webcam --list`)."
