"""The ``trio`` commands that watch: ``trio watch`` (a source, or a watches file), ``trio webcam``, ``trio cam``.

They go through the watch wing's front door (:class:`~trio_core.watch.service.WatchService`), as
the server does, and show what happens on the status board (:mod:`.board`) or as JSON Lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import ConfigError, TrioError
from .options import engine_from_options, watch_options


def run_watch(source: str, options: dict) -> None:
    """Watch ``source`` with the options of :func:`watch_options`, showing it to people or as JSON Lines."""
    from pydantic import ValidationError

    from ..watch.conditions import as_question, conditions_from
    from ..watch.service import SIGNAL_DRAIN_S, EndingSignals, WatchService
    from ..watch.settings import WatchSettings
    from .board import JsonLines, Snapshots, StatusBoard, summary

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
    # A bad file, an unknown scheme or sink, a condition that cannot be asked fail now, in a fraction of a second,
    # not after a model has loaded.
    conditions_from(list(options["conditions"]))
    service = WatchService(options["events_dir"])
    sinks = list(options["sinks"])
    service.check_sinks(sinks)
    engine = engine_from_options(options)
    service.check_source(engine, source)
    engine.load()
    conditions = list(options["conditions"])
    if auto_side:
        from ..watch.calibration import pick_max_side

        calibration = pick_max_side(engine, [as_question(c) for c in conditions], options["target_ms"])
        click.echo(calibration.sentence(), err=True)
        settings = settings.model_copy(update={"max_side": calibration.side})
    # Opened after the model loaded: a camera's frames are not left to queue up while it loads.
    running = service.start(engine, source, conditions, settings, name=options["watch_name"], sinks=sinks)
    store = Snapshots(options["snapshots"])
    as_json = options["as_json"]
    display = JsonLines(sys.stdout, store) if as_json else StatusBoard(running, store, sound=not options["no_sound"])
    ended, failure, interrupted = None, None, False
    # Ctrl-C and SIGTERM end the watch after the frame in progress, as a stop does: its ended event says why.
    with EndingSignals(running.stop) as signals:
        try:
            for event in running:
                if event.type == "error":
                    failure = event.details["message"]
                if event.type == "ended":
                    ended = event
                display.show(event)
        except KeyboardInterrupt:  # a second signal, or one that came before the handlers were in place
            interrupted = True
            running.stop("interrupted")
            ended = running.interrupted()
            if as_json:
                display.show(ended)
        finally:
            display.close()
            _deliver_what_is_owed(service, SIGNAL_DRAIN_S if signals.reason or interrupted else 10.0)
    if not as_json:
        click.echo(summary(ended.to_dict()))
    if failure:
        raise TrioError(failure)
    status = signals.exit_status or (130 if interrupted else None)
    if status:
        click.get_current_context().exit(status)


def _deliver_what_is_owed(service, timeout_s: float = 10.0) -> None:
    """At the end of a watch, a little time for the sinks to take what they are still owed; what is left
    waits in the outbox for the next watch that uses the same sink."""
    owed = service.close(drain_s=timeout_s)
    if owed:
        click.echo(f"{owed} alert deliveries are still owed to sinks: the next watch with them sends them.", err=True)


@click.command()
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
    """``trio watch --config FILE``: the file's watches in this process, sharing one model, until all end or Ctrl-C
    (or SIGTERM)."""
    import threading

    from ..watch.service import SIGNAL_DRAIN_S, EndingSignals, WatchService
    from ..watch.standing import read_watches
    from .board import EventLines, JsonLines, Snapshots

    if options.get("max_side") == "auto":
        raise click.UsageError("--max-side auto measures one watch: give a number of pixels (or max_side in the file).")
    entries = read_watches(path)  # a malformed file fails now, before a model loads
    output = threading.Lock()

    def show(standing, event) -> None:  # the display exists by the time the watches run: after the model loaded
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
    service.check_sinks([sink for entry in entries.values() for sink in entry.spec.sinks])
    loaded.append(engine_from_options(options).load())
    store = Snapshots(options["snapshots"])
    display = JsonLines(sys.stdout, store) if options["as_json"] else EventLines(store, sound=not options["no_sound"])
    reload = threading.Event()
    restore = service.reload_on_sighup(reload.set)
    interrupted = False
    # The loop below sees a signal within half a second; the handler itself only takes note (it may run while
    # this thread holds a lock that setting an Event would wait for).
    with EndingSignals(lambda reason: None) as signals:
        try:
            service.supervisor.start()
            while signals.reason is None and (service.running() or reload.is_set()):
                if reload.wait(0.5) and signals.reason is None:
                    reload.clear()
                    click.echo(service.reload_said()[1], err=True)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            restore()
            reason = signals.reason or ("interrupted" if interrupted else "stopped")
            if signals.reason or interrupted:
                click.echo("Stopping the watches.", err=True)
            service.stop_all(reason=reason)
            display.close()
            _deliver_what_is_owed(service, SIGNAL_DRAIN_S if signals.reason or interrupted else 10.0)
    status = signals.exit_status or (130 if interrupted else None)
    if status:
        click.get_current_context().exit(status)


@click.command()
@click.option("--source-index", "-s", "device", default="0", show_default=True, metavar="INDEX",
              help="Which camera: its number (see --list), or a device path such as /dev/video2.")  # fmt: skip
@click.option("--list", "list_only", is_flag=True, help="List the cameras this machine has, and exit.")
@watch_options(conditions_required=False)
@click.pass_context
def webcam(context, device, list_only, **options):
    """Watch a webcam for CONDITIONs: `trio webcam -w "a person is waving"` (Ctrl-C ends it)."""
    from ..sources.webcam import list_webcams

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


@click.command()
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
    from ..credentials import masked

    if discover:
        _print_cameras(discover_timeout, discover_address, user=user, password=password, as_json=options["as_json"])
        return
    if bool(rtsp) == bool(host):
        raise click.UsageError("Give the camera as --rtsp URL or as --host ADDRESS (or --discover).", ctx=context)
    if not options.get("conditions"):
        raise click.UsageError("Missing option '--condition' / '-w'.", ctx=context)
    if host:
        from ..cameras import resolve

        if password is not None and user is None:
            user = "admin"  # what most cameras ship with
        rtsp, how = resolve(
            host, user=user, password=password, onvif_port=onvif_port, rtsp_port=rtsp_port, profile=profile
        )
        click.echo(f"Camera stream ({how}): {masked(rtsp)}", err=True)
    run_watch(rtsp, options)


def _print_cameras(timeout: float, address: str | None, *, user, password, as_json: bool) -> None:
    """``trio cam --discover``: a line per camera (address, maker and model, profiles), or JSON Lines."""
    from ..cameras import discover

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
