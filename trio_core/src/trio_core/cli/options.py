"""The options the ``trio`` commands share: the engine's (model, backend, sampling, plugins' settings) and a watch's.

Each option falls back to its ``TRIO_*`` variable and then the default when it is not given;
``NAME.SETTING=VALUE`` options (``--opt``, ``--filter``, ``--source``, ``--backend-setting``)
are checked by each plugin's settings model.
"""

from __future__ import annotations

from pathlib import Path

import click

events_dir_option = click.option(
    "--events-dir", type=click.Path(file_okay=False, path_type=Path), envvar="TRIO_EVENTS_DIR",
    help="The event store's folder [env TRIO_EVENTS_DIR; default: trio's per-user data folder].",
)  # fmt: skip


def _settings_by_name(example: str):
    """A click callback for a repeatable NAME.SETTING=VALUE option (``--opt``, ``--filter``).

    ``("tome.keep=0.5", ...)`` becomes ``{"tome": {"keep": "0.5"}}``; each plugin's settings
    model converts the values.
    """

    def parse(context, parameter, values) -> dict | None:
        settings: dict[str, dict[str, str]] = {}
        for value in values:
            target, equals, setting = value.partition("=")
            name, dot, field = target.partition(".")
            if not (equals and dot and name and field):
                raise click.BadParameter(f"{value!r} is not NAME.SETTING=VALUE (e.g. {example}).")
            settings.setdefault(name.strip(), {})[field.strip()] = setting.strip()
        return settings or None

    return parse


_optimizer_settings = _settings_by_name("tome.keep=0.5")
_filter_settings = _settings_by_name("dedup.threshold=0.05")
_source_settings = _settings_by_name("stream.read_timeout_s=5")
_backend_settings = _settings_by_name("openai.max_concurrency=8")


class SideOrAuto(click.ParamType):
    """``--max-side``: pixels, or ``auto`` (measured at start-up by the watch commands)."""

    name = "PIXELS|auto"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return "auto"
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of pixels nor 'auto'.", param, ctx)


def engine_options(command=None, *, api_key_flag: str = "--api-key"):
    """Options every command that loads a model shares; unset ones fall back to TRIO_* and defaults.

    ``trio serve`` names the endpoints' key ``--endpoint-api-key``: its ``--api-key`` is the key its own callers send.
    """
    if command is None:
        return lambda command: engine_options(command, api_key_flag=api_key_flag)
    options = [
        click.option("--model", "-m", help="Hub id or local model directory [env TRIO_MODEL]."),
        click.option("--backend", help="Backend plugin, or 'auto' [env TRIO_BACKEND]."),
        click.option(
            "--endpoint",
            "endpoints",
            multiple=True,
            metavar="URL",
            callback=lambda context, parameter, values: list(values) or None,  # none given: TRIO_ENDPOINTS decides
            help="An OpenAI-compatible server that runs the model (--backend openai), e.g. http://gpu-box:8000/v1; "
            "repeat for a pool [env TRIO_ENDPOINTS, comma-separated].",
        ),
        click.option(
            api_key_flag,
            "api_key",
            help="The bearer key the endpoints want; never shown or logged [env TRIO_API_KEY].",
        ),
        click.option(
            "--backend-setting",
            "backend_settings",
            multiple=True,
            metavar="NAME.SETTING=VALUE",
            callback=_backend_settings,
            help="A backend's setting, e.g. --backend-setting openai.max_concurrency=8; repeatable "
            "[env TRIO_BACKEND_SETTINGS, JSON].",
        ),
        click.option("--device", help="cpu, cuda, cuda:N, mps or auto [env TRIO_DEVICE]."),
        click.option(
            "--dtype",
            type=click.Choice(["auto", "float32", "float16", "bfloat16"]),
            help="Weights dtype [env TRIO_DTYPE].",
        ),
        click.option("--optimizers", help="Comma-separated optimizers, e.g. tome,kvreuse [env TRIO_OPTIMIZERS]."),
        click.option(
            "--opt",
            "optimizer_settings",
            multiple=True,
            metavar="NAME.SETTING=VALUE",
            callback=_optimizer_settings,
            help="An optimizer's setting, e.g. --opt tome.keep=0.5; repeatable [env TRIO_OPTIMIZER_SETTINGS, JSON].",
        ),
        click.option(
            "--filter",
            "filter_settings",
            multiple=True,
            metavar="NAME.SETTING=VALUE",
            callback=_filter_settings,
            help="A frame filter's setting, e.g. --filter dedup.threshold=0.05 or --filter motion_gate.enabled=true; "
            "repeatable [env TRIO_FILTER_SETTINGS, JSON].",
        ),
        click.option(
            "--source",
            "source_settings",
            multiple=True,
            metavar="NAME.SETTING=VALUE",
            callback=_source_settings,
            help="A frame source's setting, e.g. --source stream.read_timeout_s=5 or --source webcam.video_size=1280x720; "
            "repeatable [env TRIO_SOURCE_SETTINGS, JSON].",
        ),
        click.option("--max-tokens", type=int, help="Most new tokens [env TRIO_MAX_TOKENS]."),
        click.option("--temperature", type=float, help="0 is greedy [env TRIO_TEMPERATURE]."),
        click.option("--top-p", type=float, help="Nucleus sampling mass [env TRIO_TOP_P]."),
        click.option("--seed", type=int, help="Sampling seed [env TRIO_SEED]."),
        click.option("--fps", type=float, help="Frames sampled per second of video [env TRIO_FPS]."),
        click.option("--min-frames", type=int, help="Fewest frames sampled [env TRIO_MIN_FRAMES]."),
        click.option("--max-frames", type=int, help="Most frames sampled [env TRIO_MAX_FRAMES]."),
        click.option(
            "--max-side",
            type=SideOrAuto(),
            help="Longest frame side in pixels; 'auto' (watch, webcam, cam) fits --target-ms [env TRIO_MAX_SIDE].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


ENGINE_OPTION_NAMES = (
    "model", "backend", "device", "dtype", "optimizers", "optimizer_settings", "max_tokens", "temperature", "top_p", "seed",
    "fps", "min_frames", "max_frames", "max_side", "filter_settings", "source_settings", "endpoints", "api_key",
    "backend_settings",
)  # fmt: skip


def engine_from_options(options: dict):
    """A :class:`TrioCore`, not yet loaded, from the shared options (flag > environment > default)."""
    from ..sdk import TrioCore

    if options.get("max_side") == "auto":
        raise click.UsageError("--max-side auto is for trio watch, webcam and cam: give a number of pixels here.")
    return TrioCore(**{name: options.get(name) for name in ENGINE_OPTION_NAMES})


def _watch_name(context, parameter, value):
    import re

    if value is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise click.BadParameter("use 1 to 64 letters, digits, '.', '_' or '-'.")
    return value


def watch_options(command=None, *, conditions_required: bool = True):
    """The options of every command that watches (watch, webcam, cam): conditions, decisions, pacing, display.

    ``conditions_required=False`` for a command that can also do something else (``--list``, ``--discover``).
    """
    if command is None:
        return lambda command: watch_options(command, conditions_required=conditions_required)
    options = [
        click.option(
            "--condition", "-w", "conditions", multiple=True, required=conditions_required, metavar="CONDITION",
            help="What to watch for, as a yes/no question ('Is someone at the door?') or a statement; repeatable.",
        ),
        click.option("--confirm", type=click.IntRange(1, 1000), default=1, show_default=True,
                     help="Consecutive yes frames before an alert starts."),
        click.option("--clear", type=click.IntRange(1, 1000), default=1, show_default=True,
                     help="Consecutive no frames before an alert is cleared."),
        click.option("--cooldown", type=click.FloatRange(0, 86_400), default=30.0, show_default=True,
                     help="Seconds after an alert's start before the same condition may alert again."),
        click.option("--window", type=click.IntRange(1, 64), default=1, show_default=True,
                     help="Frames each condition sees: the newest (1), or the last K as a clip (for motion)."),
        click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
                     show_default=True, help="P(yes) / (P(yes) + P(no)) from which an answer counts as yes."),
        click.option("--realtime", is_flag=True,
                     help="Pace a file as if it were live: the newest frame, dropping the rest."),
        click.option("--target-ms", type=click.FloatRange(1, 60_000), default=500.0, show_default=True,
                     help="With --max-side auto: the inference time to fit (measured at start-up)."),
        click.option("--json", "as_json", is_flag=True,
                     help="One JSON event per line on stdout (JSON Lines), nothing else."),
        click.option("--snapshots", type=click.Path(file_okay=False, path_type=Path),
                     help="Save each alert's frame here."),
        click.option("--no-sound", is_flag=True, help="No terminal bell on an alert."),
        click.option("--name", "watch_name", callback=_watch_name,
                     help="The watch's name in events, MQTT topics and Home Assistant (default: a new one each run)."),
        click.option("--sink", "sinks", multiple=True, metavar="URL",
                     help="Also deliver alerts here: mqtt://host:1883, https://hook, ntfy://topic, ...; repeatable."),
        events_dir_option,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return engine_options(command)
