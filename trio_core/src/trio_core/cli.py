"""The ``trio`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import ConfigError, TrioError
from .events_cli import events_dir_option


class TrioGroup(click.Group):
    """A click group that prints a :class:`TrioError` as one sentence and exits 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrioError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=TrioGroup)
@click.version_option(package_name="trio-core", prog_name="trio")
def cli():
    """trio: ask questions about videos and images with a local vision-language model."""


@cli.group(cls=TrioGroup)
def bench():
    """Benchmarks that measure trio against the raw libraries, side by side in one run."""


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
    from .sdk import TrioCore

    if options.get("max_side") == "auto":
        raise click.UsageError("--max-side auto is for trio watch, webcam and cam: give a number of pixels here.")
    return TrioCore(**{name: options.get(name) for name in ENGINE_OPTION_NAMES})


@cli.command()
@click.argument("source")
@click.option("--question", "-q", required=True, help="What to ask about the video or image.")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer, model, backend and all metrics as JSON.")
def analyze(source, question, as_json, **options):
    """Answer QUESTION about SOURCE: a video or image path, or an http(s) URL."""
    from .sdk import AnalysisResult

    engine = engine_from_options(options)
    clip = engine.read_video(source)  # a bad file fails now, not after a model has loaded
    engine.load()
    result = None
    for item in engine.stream_video(clip, question):
        if isinstance(item, AnalysisResult):
            result = item
        elif not as_json:
            click.echo(item, nl=False)
            sys.stdout.flush()
    if as_json:
        click.echo(json.dumps(result.model_dump(), indent=2))
    else:
        click.echo()
        click.secho(result.metrics.summary(), err=True, dim=True)


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


def run_watch(source: str, options: dict) -> None:
    """Watch ``source`` with the options of :func:`watch_options`, showing it to people or as JSON Lines."""
    from pydantic import ValidationError

    from .watch.conditions import as_question
    from .watch.service import WatchService
    from .watch.settings import WatchSettings
    from .watch_display import JsonLines, Snapshots, StatusBoard, summary

    auto_side = options.get("max_side") == "auto"
    if auto_side:
        options["max_side"] = None
    try:
        settings = WatchSettings(
            fps=options.get("fps") or 1.0, confirm=options["confirm"], clear=options["clear"],
            cooldown_s=options["cooldown"], window=options["window"], threshold=options["threshold"],
            realtime=options["realtime"],
        )  # fmt: skip
    except ValidationError as error:
        problem = error.errors()[0]
        raise ConfigError(f"--{problem['loc'][0]}: {problem['msg']}.") from None
    # A bad file, an unknown scheme or sink fails now, in a fraction of a second, not after a model has loaded.
    service = WatchService(options["events_dir"])
    sinks = list(options["sinks"])
    try:
        service.check_sinks(sinks)
        engine = engine_from_options(options)
        service.check_source(engine, source)
        engine.load()
        conditions = list(options["conditions"])
        if auto_side:
            from .watch.calibration import pick_max_side

            calibration = pick_max_side(engine, [as_question(c) for c in conditions], options["target_ms"])
            click.echo(calibration.sentence(), err=True)
            settings = settings.model_copy(update={"max_side": calibration.side})
        # Opened after the model loaded: a camera's frames are not left to queue up while it loads.
        running = service.start(engine, source, conditions, settings, name=options["watch_name"], sinks=sinks)
    except BaseException:
        service.close()
        raise
    store = Snapshots(options["snapshots"])
    as_json = options["as_json"]
    display = JsonLines(sys.stdout, store) if as_json else StatusBoard(running, store, sound=not options["no_sound"])
    ended, failure = None, None
    try:
        for event in running:
            if event.type == "error":
                failure = event.details["message"]
            if event.type == "ended":
                ended = event
            display.show(event)
    except KeyboardInterrupt:
        running.stop()
        ended = running.interrupted()
        if as_json:
            display.show(ended)
    finally:
        display.close()
        _deliver_what_is_owed(service)
    if not as_json:
        click.echo(summary(ended.to_dict()))
    if failure:
        raise TrioError(failure)


def _deliver_what_is_owed(service, timeout_s: float = 10.0) -> None:
    """At the end of a watch, a little time for the sinks to take what they are still owed; what is left
    waits in the outbox for the next watch that uses the same sink."""
    owed = service.close(drain_s=timeout_s)
    if owed:
        click.echo(f"{owed} alert deliveries are still owed to sinks: the next watch with them sends them.", err=True)


@cli.command()
@click.argument("source", required=False)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run the standing watches of this TOML file instead (SIGHUP reloads it); see docs/guide.md.",
)
@watch_options(conditions_required=False)
def watch(source, config_file, **options):
    """Watch SOURCE for CONDITIONs and alert when one holds: a video file, a URL, rtsp://..., webcam://0.

    --fps is frames checked per second of the source (default 1 here). Ctrl-C ends the watch with a summary.
    With --config FILE, every watch of the file runs at once, each restarted when its source fails.
    """
    if config_file is not None:
        if source or options["conditions"]:
            raise click.UsageError("With --config the file says what to watch: give no SOURCE or --condition.")
        run_watches_file(config_file, options)
        return
    if not source:
        raise click.UsageError("Give a SOURCE to watch (or --config FILE).")
    if not options["conditions"]:
        raise click.UsageError("Missing option '--condition' / '-w'.")
    run_watch(source, options)


def run_watches_file(path: Path, options: dict) -> None:
    """``trio watch --config FILE``: the file's watches in this process, sharing one model, until all end or Ctrl-C."""
    import threading

    from .watch.service import WatchService
    from .watch.standing import read_watches
    from .watch_display import EventLines, JsonLines, Snapshots

    if options.get("max_side") == "auto":
        raise click.UsageError("--max-side auto measures one watch: give a number of pixels (or max_side in the file).")
    entries = read_watches(path)  # a malformed file fails now, before a model loads
    output = threading.Lock()
    store = Snapshots(options["snapshots"])
    display = JsonLines(sys.stdout, store) if options["as_json"] else EventLines(store, sound=not options["no_sound"])

    def show(standing, event) -> None:
        with output:
            display.show(event)

    def changed(standing) -> None:
        if not options["as_json"]:
            with output:
                display.state(standing.describe())
        elif standing.error:
            click.echo(f"{standing.name}: {standing.state}: {standing.error}", err=True)

    loaded = []  # the engine, once loaded: the watches wait for it
    service = WatchService(
        options["events_dir"], watches_file=path, engine=lambda: loaded[0] if loaded else None, publish=show,
        changed=changed,
    )  # fmt: skip
    try:
        service.check_sinks([sink for entry in entries.values() for sink in entry.spec.sinks])
        loaded.append(engine_from_options(options).load())
    except BaseException:
        service.close()
        raise
    reload = threading.Event()
    restore = service.reload_on_sighup(reload.set)
    try:
        service.supervisor.start()
        while service.running() or reload.is_set():
            if reload.wait(0.5):
                reload.clear()
                click.echo(service.reload_said()[1], err=True)
    except KeyboardInterrupt:
        click.echo("Stopping the watches.", err=True)
    finally:
        restore()
        service.stop_all()
        display.close()
        _deliver_what_is_owed(service)


@cli.command()
@click.option("--source-index", "-s", "device", default="0", show_default=True, metavar="INDEX",
              help="Which camera: its number (see --list), or a device path such as /dev/video2.")  # fmt: skip
@click.option("--list", "list_only", is_flag=True, help="List the cameras this machine has, and exit.")
@watch_options(conditions_required=False)
@click.pass_context
def webcam(context, device, list_only, **options):
    """Watch a webcam for CONDITIONs: `trio webcam -w "a person is waving"` (Ctrl-C ends it)."""
    from .sources.webcam import list_webcams

    if list_only:
        cameras = list_webcams()
        for camera in cameras:
            click.echo(f"{camera.index}  {camera.name}  ({camera.device})")
        if not cameras:
            click.echo("No cameras found.", err=True)
        return
    if not options.get("conditions"):
        raise click.UsageError("Missing option '--condition' / '-w' (or --list).", ctx=context)
    run_watch(device if "://" in device else f"webcam://{device}", options)


@cli.command()
@click.option("--rtsp", help="The camera's stream URL, e.g. rtsp://user:pass@192.168.1.100:554/stream1.")
@click.option("--host", help="The camera's address: its stream URL is asked over ONVIF, else guessed by brand.")
@click.option("--user", "-u", help="With --host: the camera's user name [default: admin, with a password].")
@click.option("--password", "-p", help="With --host: the camera's password [env TRIO_CAMERA_PASSWORD].",
              envvar="TRIO_CAMERA_PASSWORD")  # fmt: skip
@click.option("--onvif-port", type=click.IntRange(1, 65535), default=80, show_default=True,
              help="With --host: the camera's ONVIF (HTTP) port.")  # fmt: skip
@click.option("--rtsp-port", type=click.IntRange(1, 65535), default=554, show_default=True,
              help="With --host: the RTSP port for the brand URL patterns.")  # fmt: skip
@click.option("--profile", help="With --host: the ONVIF profile to watch, by name or token (default: the first, "
              "usually the main stream; --discover lists them).")  # fmt: skip
@click.option("--discover", is_flag=True, help="Find ONVIF cameras on this network, print them, and exit.")
@click.option(
    "--discover-timeout",
    type=click.FloatRange(0.1, 60),
    default=3.0,
    show_default=True,
    help="With --discover: seconds to wait for answers.",
)
@click.option("--discover-address", metavar="HOST:PORT",
              help="With --discover: probe this one host (unicast) instead of the local network (multicast).")  # fmt: skip
@watch_options(conditions_required=False)
@click.pass_context
def cam(context, rtsp, host, user, password, onvif_port, rtsp_port, profile, discover, discover_timeout,
        discover_address, **options):  # fmt: skip
    """Watch an IP camera for CONDITIONs: by --rtsp URL or --host (ONVIF, then brand URLs); or --discover them."""
    from .credentials import masked

    if discover:
        _print_cameras(discover_timeout, discover_address, user=user, password=password, as_json=options["as_json"])
        return
    if bool(rtsp) == bool(host):
        raise click.UsageError("Give the camera as --rtsp URL or as --host ADDRESS (or --discover).", ctx=context)
    if not options.get("conditions"):
        raise click.UsageError("Missing option '--condition' / '-w'.", ctx=context)
    if host:
        from .cameras import resolve

        if password is not None and user is None:
            user = "admin"  # what most cameras ship with
        rtsp, how = resolve(
            host, user=user, password=password, onvif_port=onvif_port, rtsp_port=rtsp_port, profile=profile
        )
        click.echo(f"Camera stream ({how}): {masked(rtsp)}", err=True)
    run_watch(rtsp, options)


def _print_cameras(timeout: float, address: str | None, *, user, password, as_json: bool) -> None:
    """``trio cam --discover``: a line per camera (address, maker and model, profiles), or JSON Lines."""
    from .cameras import discover

    cameras = discover(timeout, address=address, user=user if password else None, password=password)
    if as_json:
        for camera in cameras:
            click.echo(json.dumps(camera.to_dict()))
        return
    if not cameras:
        click.echo(f"No ONVIF camera answered within {timeout:g} s.", err=True)
    for camera in cameras:
        maker = " ".join(part for part in (camera.manufacturer, camera.model) if part) or camera.name or "unknown"
        profiles = ", ".join(
            f"{profile.name} {profile.width}x{profile.height} {profile.encoding or ''}".strip()
            for profile in camera.profiles
        )
        click.echo(f"{camera.address}  {maker}  [{profiles or camera.error or 'no profiles listed'}]")


@cli.command("eval")
@click.argument("suite_name", metavar="SUITE")
@engine_options
@click.option("--limit", type=click.IntRange(1), help="At most this many questions per task.")
@click.option(
    "--compare",
    default="baseline",
    show_default=True,
    help="Configurations to run side by side: baseline (no optimizer), an optimizer name, a+b, or all.",
)
@click.option(
    "--compare-backends",
    help="Run every configuration on each of these backends too (e.g. torch,mlx), against the first one's baseline.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_command(suite_name, limit, compare, compare_backends, as_json, **options):
    """Score a model on a benchmark SUITE, optionally under several optimizer configurations."""
    from .config import load_config
    from .evaluation import parse_configs, render, run_eval
    from .plugins import registry

    if options.get("optimizers"):
        raise ConfigError(
            "trio eval takes its optimizers from --compare (e.g. --compare baseline,tome), not --optimizers."
        )
    reg = registry()
    suite = reg.find("eval suite", suite_name)
    given = {name: options.get(name) for name in ENGINE_OPTION_NAMES if name != "optimizers"}
    # Every frame a suite made is meant to be seen: dedup is off in an eval, whatever the
    # environment says, unless --filter dedup.threshold asks for it (same level, so it wins).
    base = load_config(**given, dedup_threshold=0.0)
    configs = parse_configs(compare, [item.name for item in reg.of_kind("optimizer")])
    backends = [name.strip() for name in (compare_backends or "").split(",") if name.strip()]
    if backends and options.get("backend"):
        raise ConfigError("Give the backends to compare with --compare-backends alone, without --backend.")
    for name in backends:
        reg.find("backend", name)  # an unknown one is refused before anything loads
    report = run_eval(suite, base, configs, limit=limit, backends=backends or None)
    click.echo(report.model_dump_json(indent=2) if as_json else render(report))


@cli.command()
@engine_options(api_key_flag="--endpoint-api-key")
@click.option("--host", help="Address to bind [env TRIO_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port [env TRIO_PORT; default 8000].")
@click.option(
    "--api-key", "api_keys", multiple=True, help="A bearer key callers must send; repeatable [env TRIO_API_KEYS]."
)
@click.option(
    "--admin-key", "admin_keys", multiple=True, help="A key that may also reload the model [env TRIO_ADMIN_KEYS]."
)
@click.option(
    "--media-root", "media_roots", multiple=True, type=click.Path(file_okay=False, exists=True),
    help="A directory whose files requests may name by path; repeatable [env TRIO_MEDIA_ROOTS].",
)  # fmt: skip
@click.option(
    "--allow-public-without-key", is_flag=True, default=None,
    help="Serve a non-loopback address with no API key (anyone who reaches it may use the model).",
)  # fmt: skip
@click.option("--allow-private-urls", is_flag=True, default=None, help="Let media URLs reach private addresses.")
@click.option("--queue-size", type=int, help="Requests that may wait for the model before 429 [env TRIO_QUEUE_SIZE].")
@click.option("--json-logs", is_flag=True, default=None, help="One JSON object per log line [env TRIO_JSON_LOGS].")
@click.option(
    "--watches",
    "watches_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Standing watches (TOML) to run from start-up; SIGHUP reloads the file [env TRIO_WATCHES].",
)
@events_dir_option
def serve(host, port, api_keys, admin_keys, media_roots, allow_public_without_key, allow_private_urls, queue_size,
          json_logs, watches_file, events_dir, **options):  # fmt: skip
    """Serve the HTTP API: OpenAI-compatible chat, video and frame analysis, camera watches."""
    from pydantic import ValidationError

    from .config import load_config
    from .errors import ConfigError
    from .server import serve as run
    from .server.settings import ServerSettings

    given = {
        "host": host, "port": port, "api_keys": list(api_keys) or None, "admin_keys": list(admin_keys) or None,
        "media_roots": list(media_roots) or None, "allow_public_without_key": allow_public_without_key,
        "allow_private_urls": allow_private_urls, "queue_size": queue_size, "json_logs": json_logs,
        "watches": watches_file, "events_dir": events_dir,
    }  # fmt: skip
    try:
        settings = ServerSettings(**{key: value for key, value in given.items() if value is not None})
    except ValidationError as error:
        problem = error.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}.") from None
    config = load_config(**{name: options.get(name) for name in ENGINE_OPTION_NAMES})
    if settings.watches is not None:
        from .watch.standing import read_watches

        read_watches(settings.watches)  # a malformed file: one sentence now, not a failed start-up
    run(config, settings)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List every loaded plugin, its distribution, version, hooks and what it registers."""
    from .doctor import plugin_report, render_plugins

    report = plugin_report()
    click.echo(json.dumps(report, indent=2) if as_json else render_plugins(report))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--endpoint", "endpoints", multiple=True, metavar="URL",
    help="Also check these OpenAI-compatible servers (--backend openai) [env TRIO_ENDPOINTS].",
)  # fmt: skip
@click.option("--api-key", "api_key", help="The endpoints' key [env TRIO_API_KEY].")
@click.option("--model", "-m", help="The model the endpoints should serve [env TRIO_MODEL].")
def doctor(as_json, endpoints, api_key, model):
    """What is installed, which backend and device would run, whether video decoding works, and what each
    endpoint of a remote backend accepts (video, media ids, yes/no from logprobs or from the text)."""
    from .config import load_config
    from .doctor import diagnose, render

    config = load_config(endpoints=list(endpoints) or None, api_key=api_key, model=model)
    report = diagnose(config)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))


def _add_core_commands() -> None:
    from .bench_events import events_bench
    from .bench_overhead import overhead
    from .bench_remote import remote_bench
    from .bench_structured import structured_bench
    from .events_cli import events
    from .server.bench import serve_bench

    cli.add_command(events)
    bench.add_command(overhead)
    bench.add_command(events_bench)
    bench.add_command(serve_bench)
    bench.add_command(structured_bench)
    bench.add_command(remote_bench)


def _add_plugin_commands() -> None:
    from .plugins import load_plugins

    load_plugins().hook.register_commands(cli=cli)


_add_core_commands()
_add_plugin_commands()


def main() -> None:
    cli(prog_name="trio")
