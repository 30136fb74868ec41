"""The frame-source contract, and how a target finds the source that reads it."""

from __future__ import annotations

import difflib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..errors import ConfigError, PluginNotFoundError
from ..frames import Frame, SamplingPlan
from ..plugins import missing_message, registry

if TYPE_CHECKING:
    from ..config import EngineConfig

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")

_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def uri_scheme(target: Any) -> str | None:
    """The URI scheme of a target: ``"rtsp"`` for ``rtsp://cam/1``, ``"file"`` for a plain or Windows path.

    ``None`` for targets that are not a string or path (arrays, images, ...).
    """
    if isinstance(target, os.PathLike):
        return "file"
    if not isinstance(target, str):
        return None
    if _WINDOWS_PATH.match(target):
        return "file"
    match = _URI.match(target)
    if match:
        return match.group(1).lower()
    return "file"  # a plain path, or a "file:" URL without "//"


class NoSettings(BaseModel):
    """The settings of a source that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameSource(ABC):
    """Something that turns a target (a path, a URL, an array, a camera) into sampled frames.

    Subclasses set ``name`` (how ``trio plugins`` lists it) and usually ``schemes`` (the URI
    schemes they open); they implement :meth:`open`. Register one from a plugin with::

        @hookimpl
        def register_frame_sources(register):
            register(MySource())
    """

    name: str
    schemes: tuple[str, ...] = ()
    # A live source (a camera, a stream) never ends on its own; a watch analyses its newest frame.
    live: bool = False
    # The source's settings (``--source NAME.SETTING=VALUE``, ``TRIO_SOURCE_SETTINGS``), checked by this model.
    Settings: type[BaseModel] = NoSettings

    def settings_from(self, config: EngineConfig) -> BaseModel:
        """This source's settings from ``config``, checked; a bad one is a ConfigError naming it."""
        from ..config import checked_settings

        return checked_settings(
            self.Settings, config.source_settings.get(self.name, {}), flag="--source", name=self.name
        )

    def can_open(self, target: Any) -> bool:
        """Whether this source reads ``target``; by default, a string or path whose scheme is in :attr:`schemes`."""
        return uri_scheme(target) in self.schemes

    @abstractmethod
    def open(self, target: Any, plan: SamplingPlan, config: EngineConfig) -> Iterable[Frame]:
        """The frames of ``target`` sampled as ``plan`` says, in time order, each at most ``plan.max_side`` on its longer side.

        Raises :class:`~trio_core.errors.MediaError` when the target cannot be read.
        """

    def check(self, target: Any, config: EngineConfig) -> None:  # noqa: B027 - optional: most sources check in open()
        """Refuse a target that cannot work, cheaply and without opening it (a webcam that is not there, a URL
        with no host): the CLI calls this before loading a model. Raises :class:`~trio_core.errors.MediaError`."""

    def describe(self) -> dict[str, Any]:
        """What ``trio plugins`` shows about this source: its schemes, whether it is live, its settings' defaults."""
        described: dict[str, Any] = {"schemes": list(self.schemes)}
        if self.live:
            described["live"] = True
        if self.Settings.model_fields:
            described["settings"] = {name: field.default for name, field in self.Settings.model_fields.items()}
        return described


def find_source(target: Any, sources: list[FrameSource]) -> FrameSource:
    """The first of ``sources`` that can open ``target``, or a :class:`PluginNotFoundError` saying what to install."""
    for source in sources:
        if source.can_open(target):
            return source
    names = [source.name for source in sources]
    scheme = uri_scheme(target)
    if scheme is not None:
        known = sorted({known for source in sources for known in source.schemes})
        # A typo keeps the length (rtps, rstp) more often than it adds a letter: prefer the same length.
        close = sorted(
            difflib.get_close_matches(scheme, known, n=3, cutoff=0.75), key=lambda k: abs(len(k) - len(scheme))
        )
        if close:
            raise PluginNotFoundError(
                f"trio reads no '{scheme}://' URLs: did you mean {close[0]}://? (schemes: {', '.join(known)})"
            )
        raise PluginNotFoundError(missing_message("frame source", scheme, names))
    raise PluginNotFoundError(
        f"No frame source can read a {type(target).__name__} (installed: {', '.join(sorted(names)) or 'none'}); "
        "pass a file path, a URL, a numpy array or a PIL image."
    )


def read_frames(target: Any, plan: SamplingPlan | None = None, config: EngineConfig | None = None) -> list[Frame]:
    """The sampled frames of ``target`` (path, URL, array, ...), read by whichever installed source opens it.

    ``config`` defaults to the environment's :class:`~trio_core.config.EngineConfig`, and
    ``plan`` to the sampling that config describes.
    """
    if config is None:
        from ..config import EngineConfig

        config = EngineConfig()
    if plan is None:
        plan = SamplingPlan.from_config(config)
    sources = registry().objects("frame source")
    check_source_settings(config, sources)
    source = find_source(target, sources)
    # A live source may say it is reconnecting between its frames: a one-off read wants the frames.
    return [item for item in source.open(target, plan, config) if isinstance(item, Frame)]


def check_source_settings(config: EngineConfig, sources: list[FrameSource]) -> None:
    """Settings for a source that is not installed are refused in one sentence, as a typo usually is."""
    names = sorted(source.name for source in sources)
    for name in config.source_settings:
        if name not in names:
            raise ConfigError(
                f"--source {name}: there is no frame source called '{name}' (sources: {', '.join(names)})."
            )
