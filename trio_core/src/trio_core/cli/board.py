"""The status board: how ``trio watch`` shows a watch, a live status line per condition for people, JSON Lines for pipes.

People get one line per condition (green while clear, red while alerting) with its last
answer, under a line of how the watch keeps up (frames analysed per second, inference
latency, lag behind live, gated and dropped frames); each alert and clear is also printed
above it, with a terminal bell on an alert. ``--json`` writes each event as one JSON object
per line on stdout and nothing else there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from ..watch import Watch, WatchEvent

# Events that say a source or the backend went away or came back, or something failed: shown as they come.
OUTAGES = ("reconnecting", "reconnected", "backend_unavailable", "backend_restored", "error")


class Snapshots:
    """Writes each alert's frame as a JPEG into a folder, and says where in the event (``snapshot``)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def keep(self, event: WatchEvent, data: dict) -> None:
        if self.folder is None or event.image is None:
            return
        from ..frames import jpeg_bytes

        path = self.folder / f"{event.watch}-{event.condition}-{event.pts:09.2f}.jpg"
        path.write_bytes(jpeg_bytes(event.image))
        data["snapshot"] = str(path)


class JsonLines:
    """Every event, one JSON object a line, flushed as it happens."""

    def __init__(self, out: TextIO, snapshots: Snapshots):
        self.out, self.snapshots = out, snapshots

    def show(self, event: WatchEvent) -> None:
        data = event.to_dict()
        self.snapshots.keep(event, data)
        self.out.write(json.dumps(data) + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


class StatusBoard:
    """The live display for people (rich): a status line per condition and one for the watch."""

    def __init__(self, watch: Watch, snapshots: Snapshots, *, sound: bool):
        from rich.console import Console
        from rich.live import Live

        self.watch, self.snapshots, self.sound = watch, snapshots, sound
        self.console = Console()
        self.last: dict[str, dict] = {}
        self.lag: float | None = None
        self.pts: float | None = None
        self.opened = time.monotonic()
        self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=True)
        self.live.start()

    def render(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for condition in self.watch.conditions:
            state = self.watch.states[condition.id]
            last = self.last.get(condition.id, {})
            badge = "[bold white on red] ALERT [/]" if state.alerting else "[bold black on green] clear [/]"
            probability = last.get("probability")
            answer = last.get("answer", "...")
            shown = f"{answer!r}" + (f" P(yes) {probability:.2f}" if probability is not None else "")
            table.add_row(badge, condition.question, f"[dim]{shown}[/]")
        elapsed = max(time.monotonic() - self.opened, 1e-9)
        watch = self.watch
        latency = f"{watch.latency_ms / watch.analysed:.0f} ms" if watch.analysed else "-"
        parts = [
            f"{watch.analysed / elapsed:.1f} frames/s analysed",
            f"latency {latency}",
            *([f"lag {self.lag:.2f} s"] if self.lag is not None else []),
            f"{watch.gated} gated",
            f"{watch.dropped} dropped",
            *([f"at {self.pts:.1f} s"] if self.pts is not None else []),
        ]
        table.add_row("", f"[dim]{' | '.join(parts)}[/]", "")
        return table

    def show(self, event: WatchEvent) -> None:
        if event.type == "result":
            self.last[event.condition] = {"answer": event.answer, "probability": event.probability}
            self.lag = event.details.get("lag_s", self.lag)
            self.pts = event.pts
        elif event.type in ("alert", "cleared"):
            data = event.to_dict()
            self.snapshots.keep(event, data)
            where = f" -> {data['snapshot']}" if "snapshot" in data else ""
            if event.type == "alert":
                self.console.print(f"[bold red]ALERT[/] {event.pts:8.2f} s  {event.condition}: {event.answer!r}{where}")
                if self.sound:
                    sys.stderr.write("\a")
                    sys.stderr.flush()
            else:
                duration = event.details["duration_s"]
                self.console.print(f"[green]clear[/] {event.pts:8.2f} s  {event.condition} (after {duration:.1f} s)")
        elif event.type in OUTAGES:
            details = ", ".join(f"{key} {value}" for key, value in event.details.items())
            self.console.print(f"[yellow]{event.type}[/] {details}")
        self.live.update(self.render())

    def close(self) -> None:
        self.live.stop()


class EventLines:
    """Many watches at once (``trio watch --config``): one line per alert, clear, outage and change of state."""

    def __init__(self, snapshots: Snapshots, *, sound: bool):
        from rich.console import Console

        self.snapshots, self.sound = snapshots, sound
        self.console = Console(highlight=False)

    def show(self, event: WatchEvent) -> None:
        data = event.to_dict()
        if event.type == "alert":
            self.snapshots.keep(event, data)
            where = f" -> {data['snapshot']}" if "snapshot" in data else ""
            self.console.print(f"[bold red]ALERT[/] {event.watch}  {event.pts:8.2f} s  {event.condition}: "
                               f"{event.answer!r}{where}")  # fmt: skip
            if self.sound:
                sys.stderr.write("\a")
                sys.stderr.flush()
        elif event.type == "cleared":
            self.console.print(f"[green]clear[/] {event.watch}  {event.pts:8.2f} s  {event.condition} "
                               f"(after {event.details['duration_s']:.1f} s)")  # fmt: skip
        elif event.type in OUTAGES:
            details = ", ".join(f"{key} {value}" for key, value in event.details.items())
            self.console.print(f"[yellow]{event.type}[/] {event.watch}  {details}")
        elif event.type == "ended":
            self.console.print(f"[dim]ended[/] {event.watch}  {summary(data)}")

    def state(self, listing: dict) -> None:
        error = f": {listing['error']}" if listing.get("error") else ""
        self.console.print(f"[cyan]{listing['state']}[/] {listing['id']}{error}")

    def close(self) -> None:
        pass


def summary(ended: dict) -> str:
    latency = ended.get("mean_latency_ms")
    return (
        f"{ended['frames_seen']} frames seen, {ended['frames_analysed']} analysed, {ended['frames_gated']} gated, "
        f"{ended['frames_dropped']} dropped; {ended['alerts']} alert(s); mean latency "
        f"{f'{latency:.0f} ms' if latency is not None else '-'} ({ended['reason']})"
    )
