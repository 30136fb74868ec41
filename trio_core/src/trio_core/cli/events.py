"""``trio events``: the event store from the command line (list, show, export, prune)."""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from .options import events_dir_option

FIELDS = ("id", "watch", "condition", "started", "cleared", "duration_s", "end_reason", "answer", "probability",
          "source", "question", "snapshot")  # fmt: skip


def _store(events_dir):
    from ..watch.event_store import EventStore

    return EventStore(events_dir)


def _filters(command):
    for option in reversed([
        click.option("--watch", help="Only this watch's events."),
        click.option("--condition", "-c", help="Only this condition's events."),
        click.option("--since", help="Started at or after: ISO 8601 (2026-12-03T08:00) or an age (2h, 7d)."),
        click.option("--until", help="Started before: ISO 8601 or an age."),
        events_dir_option,
    ]):  # fmt: skip
        command = option(command)
    return command


def _query(store, options: dict, limit: int | None) -> list[dict]:
    from ..watch.event_store import parse_time

    return store.query(
        watch=options["watch"], condition=options["condition"],
        since=parse_time(options["since"]) if options["since"] else None,
        until=parse_time(options["until"]) if options["until"] else None, limit=limit,
    )  # fmt: skip


@click.group()
def events():
    """The alerts every watch raised, with their snapshots: list, show, export, prune; and how each watch ran."""


@events.command("list")
@_filters
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (JSON Lines).")
def list_events(limit, as_json, **options):
    """The newest events first."""
    found = _query(_store(options["events_dir"]), options, limit)
    if as_json:
        for event in found:
            click.echo(json.dumps(event))
        return
    if not found:
        click.echo("No events.", err=True)
    for event in found:
        lasted = f"{event['duration_s']:.1f} s" if event["duration_s"] is not None else "open"
        if event["end_reason"]:  # it did not clear: its watch ended first, or its process died
            lasted += f" ({event['end_reason']})"
        p = f" p={event['probability']:.2f}" if event["probability"] is not None else ""
        click.echo(f"{event['id']:>6}  {event['started']}  {event['watch']}  {event['condition']}  {lasted}{p}")


@events.command()
@click.option("--watch", help="Only this watch's runs.")
@events_dir_option
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run (JSON Lines).")
def runs(watch, events_dir, limit, as_json):
    """How each watch ran, newest first: when it started and ended, and why it ended."""
    found = _store(events_dir).runs(watch=watch, limit=limit)
    if as_json:
        for run in found:
            click.echo(json.dumps(run))
        return
    if not found:
        click.echo("No runs.", err=True)
    for run in found:
        click.echo(
            f"{run['id']:>6}  {run['started']}  {run['watch']}  {run['ended'] or 'running'}  {run['reason'] or ''}"
        )


@events.command()
@click.argument("event_id", type=int)
@events_dir_option
@click.option("--json", "as_json", is_flag=True, help="The event as JSON.")
def show(event_id, events_dir, as_json):
    """One event, with where its snapshot is."""
    store = _store(events_dir)
    event = store.get(event_id)
    if event is None:
        raise ConfigError(f"No event {event_id} in {store.folder}: `trio events list` shows the ones there are.")
    snapshot = store.snapshot(event_id)
    event["snapshot_path"] = str(snapshot) if snapshot else None
    if as_json:
        click.echo(json.dumps(event, indent=2))
        return
    for name, value in event.items():
        if value is not None:
            click.echo(f"{name:>15}: {value}")


@events.command()
@_filters
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@click.option("--snapshots", type=click.Path(file_okay=False, path_type=Path),
              help="Also copy each event's snapshot into this folder, as <id>.jpg.")  # fmt: skip
def export(fmt, out, snapshots, **options):
    """Every matching event, oldest first, as JSON Lines or CSV."""
    store = _store(options["events_dir"])
    found = list(reversed(_query(store, options, None)))
    with open(out, "w", newline="") if out else contextlib.nullcontext(sys.stdout) as stream:
        if fmt == "csv":
            writer = csv.DictWriter(stream, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(found)
        else:
            for event in found:
                stream.write(json.dumps(event) + "\n")
    if snapshots:
        snapshots.mkdir(parents=True, exist_ok=True)
        copied = 0
        for event in found:
            path = store.snapshot(event["id"])
            if path is not None:
                shutil.copyfile(path, snapshots / f"{event['id']}.jpg")
                copied += 1
        click.echo(f"Copied {copied} snapshots to {snapshots}.", err=True)


@events.command()
@click.option(
    "--older-than",
    default=None,
    metavar="AGE",
    help="Remove events older than this (90m, 12h, 30d) [default: 30d, the store's retention].",
)
@click.option(
    "--max-snapshots-mb",
    type=click.FloatRange(0),
    default=None,
    help="Then remove the oldest snapshots beyond this total [default: 2048].",
)
@events_dir_option
def prune(older_than, max_snapshots_mb, events_dir):
    """Apply retention now (running watches and servers also prune every 10 minutes)."""
    import time

    from ..watch.event_store import parse_time

    now = time.time()
    age = now - parse_time(older_than, now=now) if older_than else None
    if age is not None and age < 0:
        raise ConfigError("--older-than is an age (90m, 12h, 30d).")
    pruned = _store(events_dir).prune(older_than_s=age, max_snapshots_mb=max_snapshots_mb, now=now)
    click.echo(pruned.sentence())
