"""The ``trio`` commands that answer, serve and report: analyze, eval, serve, plugins, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from .options import ENGINE_OPTION_NAMES, engine_from_options, engine_options, events_dir_option


@click.command()
@click.argument("source")
@click.option("--question", "-q", required=True, help="What to ask about the video or image.")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer, model, backend and all metrics as JSON.")
def analyze(source, question, as_json, **options):
    """Answer QUESTION about SOURCE: a video or image path, or an http(s) URL."""
    from ..sdk import AnalysisResult

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


@click.command("eval")
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
    from ..config import load_config
    from ..evaluation import parse_configs, render, run_eval
    from ..plugins import registry

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


@click.command()
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
@click.option(
    "--allow-private-urls",
    is_flag=True,
    default=None,
    help="Let what a request names (media URLs, live streams, sinks) reach private, loopback and link-local addresses [env TRIO_ALLOW_PRIVATE_URLS].",
)
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

    from ..config import load_config
    from ..server import serve as run
    from ..server.settings import ServerSettings

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
        from ..watch.standing import read_watches

        read_watches(settings.watches)  # a malformed file: one sentence now, not a failed start-up
    run(config, settings)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List every loaded plugin, its distribution, version, hooks and what it registers."""
    from ..doctor import plugin_report, render_plugins

    report = plugin_report()
    click.echo(json.dumps(report, indent=2) if as_json else render_plugins(report))


@click.command()
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
    from ..config import load_config
    from ..doctor import diagnose, render

    config = load_config(endpoints=list(endpoints) or None, api_key=api_key, model=model)
    report = diagnose(config)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
