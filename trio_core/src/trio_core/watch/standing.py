"""Standing watches: a TOML file of watches that run until told otherwise, restarted when their source fails.

The file (``trio serve --watches FILE``, ``trio watch --config FILE``)::

    [defaults]                      # every watch's settings, unless it says otherwise
    fps = 1
    sinks = ["mqtt://trio:${MQTT_PASSWORD}@127.0.0.1:1883"]

    [watches.front-door]            # the table's name is the watch's id (events, topics, Home Assistant)
    source = "rtsp://admin:${DOOR_PASSWORD}@192.168.1.20:554/stream1"
    conditions = ["Is someone at the door?", { id = "package", question = "Is there a package?" }]
    confirm = 2

``${NAME}`` is the environment variable NAME (``$$`` is a dollar sign): secrets stay out of
the file, and nothing trio lists or logs shows them (listings show the source as the file
writes it, masked). A malformed file is one error that names its line and its key.

A :class:`Supervisor` keeps each watch of the file running on its own thread: a source that
cannot be opened (a camera that is off at boot) is retried with backoff and listed as
``retrying`` with the reason, while the others run (one that retrying cannot mend, a refused
password or an unknown scheme, is ``failed`` until reloaded or started by hand); a watch that ends in an error (a camera
that dropped for good) is restarted the same way; a file source that plays to its end stays
``ended``. :meth:`Supervisor.reload` reads the file again and applies the difference: new
watches start, removed ones stop, changed ones restart, and the others are not touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..credentials import masked
from ..errors import ConfigError, PluginNotFoundError, TrioError
from ..sinks.base import sink_label
from .conditions import Condition, conditions_from
from .engine import Watch
from .events import WatchEvent
from .settings import WatchSettings

if TYPE_CHECKING:
    from ..sdk import TrioCore
    from .alerts import Alerts

log = logging.getLogger("trio.standing")
RETRY_S = (1.0, 60.0)  # the first retry's wait, doubling up to the last
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class WatchSpec(WatchSettings):
    """One ``[watches.NAME]`` table: what to watch, for what, where alerts go, and the watch's settings."""

    source: str = Field(min_length=1, description="A file, a URL, rtsp://..., webcam://0.")
    conditions: list[str | Condition] = Field(min_length=1, max_length=16)
    sinks: list[str] = Field(default_factory=list, max_length=8)
    enabled: bool = Field(True, description="false: listed, but not started until started by hand.")

    def settings(self) -> WatchSettings:
        return WatchSettings(**self.model_dump(include=set(WatchSettings.model_fields)))


class Entry:
    """A watch of the file as read: its spec (secrets filled in) and how listings may show it (they are not)."""

    def __init__(self, name: str, spec: WatchSpec, written: dict, secrets: set[str] = frozenset()):
        self.name, self.spec = name, spec
        self.label = masked(str(written.get("source", spec.source)))
        self.sinks = [sink_label(str(sink)) for sink in written.get("sinks", spec.sinks)]
        # The values ${NAME} filled in: whatever shows this watch (listings, errors, logs) never shows them,
        # wherever they sit (a password in a URL's path, an ntfy topic, a webhook's token).
        self.secrets = {secret for secret in secrets if len(secret) >= 3}

    def redact(self, value: Any) -> Any:
        """``value`` (a string, or JSON-like data) with every filled-in secret replaced by ``***``."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        return value

    def __eq__(self, other) -> bool:
        return isinstance(other, Entry) and self.spec == other.spec


def read_watches(path: Path, environ: dict[str, str] | None = None) -> dict[str, Entry]:
    """The watches of ``path``, checked; a :class:`ConfigError` naming the line and key of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Cannot read the watches file {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"The watches file {path} is not UTF-8 text (byte {error.start}).") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}.") from None
    where = _Locator(path, text)
    for table in document:
        if table not in ("defaults", "watches"):
            raise ConfigError(f"{where(table)}: unknown table {table!r}; a watches file has [defaults] and "
                              "[watches.NAME] tables.")  # fmt: skip
    defaults, watches = document.get("defaults", {}), document.get("watches", {})
    if not isinstance(defaults, dict) or not isinstance(watches, dict):
        raise ConfigError(f"{where('defaults' if not isinstance(defaults, dict) else 'watches')}: must be a table.")
    environ = os.environ if environ is None else environ
    entries: dict[str, Entry] = {}
    for name, table in watches.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where('watches', name)}: must be a table, [watches.{name}].")
        if not NAME.match(name) or set(name) == {"."}:
            raise ConfigError(f"{where('watches', name)}: the watch name {name!r} must be 1 to 64 letters, digits, "
                              "'.', '_' or '-' (it names MQTT topics).")  # fmt: skip
        written = {**defaults, **table}
        filled, secrets = {}, set()
        for key, value in written.items():
            filled[key] = _fill(value, environ, where(*_origin(key, name, table)), secrets)
        try:
            spec = WatchSpec(**filled)
        except ValidationError as error:
            problem = error.errors()[0]
            key = str(problem["loc"][0]) if problem["loc"] else None
            at = where(*_origin(key, name, table)) if key else where("watches", name)
            raise ConfigError(f"{at}: {_sentence(problem)}") from None
        try:  # checked as they will be asked: a plain condition becomes a question, which has a limit
            conditions_from(spec.conditions)
        except TrioError as error:
            raise ConfigError(f"{where(*_origin('conditions', name, table))}: {error}") from None
        entries[name] = Entry(name, spec, written, secrets)
    return entries


def _origin(key: str, name: str, table: dict) -> tuple[str, ...]:
    """Where a watch's key was written: its own table, else [defaults]."""
    return ("watches", name, key) if key in table else ("defaults", key)


def _sentence(problem: dict) -> str:
    if problem["type"] == "extra_forbidden":
        known = ", ".join(sorted(WatchSpec.model_fields))
        return f"unknown setting; a watch has {known}."
    return f"{problem['msg']}."


def _fill(value: Any, environ, where: str, secrets: set[str]) -> Any:
    """``${NAME}`` filled in from the environment, in every string of ``value`` (the values into ``secrets``)."""
    if isinstance(value, str):

        def variable(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            if match.group(1) not in environ:
                raise ConfigError(f"{where}: the environment variable {match.group(1)} is not set.")
            secrets.add(environ[match.group(1)])
            return environ[match.group(1)]

        return _VARIABLE.sub(variable, value)
    if isinstance(value, list):
        return [_fill(item, environ, where, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, environ, where, secrets) for key, item in value.items()}
    return value


class _Locator:
    """``file, line N, watches.front-door.fps`` for a key of the file: tomllib keeps no positions, so the line
    is found by reading the table headers and keys (a key it cannot find is named without a line)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def __call__(self, *keys: str) -> str:
        dotted = ".".join(_quoted(key) for key in keys)
        line = self._line(keys)
        return f"{self.path}, line {line}: {dotted}" if line else f"{self.path}: {dotted}"

    def _line(self, keys: tuple[str, ...]) -> int | None:
        table: tuple[str, ...] = ()
        for number, line in enumerate(self.lines, 1):
            header = self._HEADER.match(line)
            if header:
                table = tuple(part.strip().strip("\"'") for part in header.group(1).split("."))
                if table == keys:
                    return number
                continue
            key = re.match(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)\s*=", line)
            if key and (*table, key.group(1).strip("\"'")) == keys:
                return number
        return None


def _quoted(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


# Keeping them running ---------------------------------------------------------------------------


class StandingWatch:
    """One watch kept running: its current :class:`Watch`, its state, its restarts.

    States: ``waiting`` (for the model), ``starting``, ``running``, ``reconnecting`` (the source
    is reconnecting on its own), ``retrying`` (opening failed or the watch failed; ``error``
    says why, ``retry_in_s`` when), ``failed`` (retrying cannot help: a refused password, an
    unknown scheme), ``ended`` (a file played to its end), ``stopped``.
    """

    def __init__(self, entry: Entry, supervisor: Supervisor, *, kind: str = "standing"):
        self.entry, self.supervisor, self.kind = entry, supervisor, kind
        self.name = entry.name
        self.state = "stopped"
        self.error: str | None = None
        self.restarts = 0
        self.retry_at: float | None = None
        self.watch: Watch | None = None
        self.retired = False  # replaced by a reload or removed: never started again
        self._stop = threading.Event()
        self.stop_reason = "stopped"
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running or self.retired:
            return
        self._stop, self.stop_reason = threading.Event(), "stopped"
        self.state, self.error, self.retry_at = "starting", None, None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"trio-standing-{self.name}")
        self._thread.start()

    def stop(self, wait_s: float | None = None, reason: str = "stopped") -> None:
        """Stop it (its watch's ``ended`` says ``reason``), waiting up to ``wait_s`` seconds for its thread."""
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        if self.watch is not None:
            self.watch.stop(reason)
        if wait_s is not None and self._thread is not None:
            self._thread.join(timeout=wait_s)

    def describe(self) -> dict[str, Any]:
        """The listing: the watch's own (counters, alerting conditions) while it runs, and its state."""
        spec = self.entry.spec
        listing = self.watch.describe() if self.watch is not None else {
            "id": self.name, "source": self.entry.label, "fps": spec.fps,
            "conditions": [condition.model_dump(exclude_none=True) for condition in conditions_from(spec.conditions)],
        }  # fmt: skip
        listing.update(id=self.name, source=self.entry.label, kind=self.kind, state=self.state, error=self.error,
                       restarts=self.restarts)  # fmt: skip
        if self.retry_at is not None and self.state == "retrying":
            listing["retry_in_s"] = round(max(0.0, self.retry_at - time.time()), 1)
        if "sinks" not in listing and self.entry.sinks:
            listing["sinks"] = [{"sink": sink} for sink in self.entry.sinks]
        return self.entry.redact(listing)

    def _set(self, state: str, error: str | None = None) -> None:
        error = self.entry.redact(error)
        changed = (state, error) != (self.state, self.error)
        self.state, self.error = state, error
        if changed:
            if error:
                log.warning("watch %s: %s (%s)", self.name, state, error)
            else:
                log.info("watch %s: %s", self.name, state)
            self.supervisor.changed(self)

    def _wait(self, delay: float) -> bool:
        """Wait before a retry; False when stopped meanwhile."""
        self.retry_at = time.time() + delay
        stopped = self._stop.wait(delay)
        self.retry_at = None
        return not stopped

    def _run(self) -> None:
        try:
            self._keep_running()
        except Exception as error:  # a bug (ours or a plugin's): said, not a thread that dies in silence
            log.exception("watch %s failed", self.name)
            self._set("failed", f"{type(error).__name__}: {error}")

    def _keep_running(self) -> None:
        from ..sources.live import Refused

        spec, supervisor = self.entry.spec, self.supervisor
        delay = RETRY_S[0]
        while not self._stop.is_set():
            engine = supervisor.engine()
            if engine is None:
                self._set("waiting")
                if self._stop.wait(0.5):
                    break
                continue
            try:
                watch = Watch(
                    engine, spec.source, spec.conditions, spec.settings(), label=self.entry.label,
                    turn=supervisor.turn, on_answer=supervisor.on_answer, watch_id=self.name, alerts=supervisor.alerts,
                    sinks=spec.sinks,
                )  # fmt: skip
                watch.open()
            except (Refused, ConfigError, PluginNotFoundError) as error:
                # Retrying cannot help (an unknown scheme, a setting, a refused password: retries would lock
                # the account): it waits for a reload or a start by hand.
                self._set("failed", str(error))
                return
            except TrioError as error:  # unreachable, not answering: cameras come back
                self._set("retrying", str(error))
                if not self._wait(delay):
                    break
                delay = min(RETRY_S[1], delay * 2)
                continue
            self.watch = watch
            if self._stop.is_set():  # stopped while it opened
                watch.stop(self.stop_reason)
            reason, failure, analysed = self._follow(watch)
            if analysed:  # it ran: the next failure starts the backoff over
                delay = RETRY_S[0]
            if self._stop.is_set():
                break
            if reason == "source ended" and not watch.live:
                self._set("ended")
                return
            self.restarts += 1
            self._set("retrying", failure or "The source ended.")
            if not self._wait(delay):
                break
            delay = min(RETRY_S[1], delay * 2)
        self._set("stopped")

    def _follow(self, watch: Watch) -> tuple[str, str | None, bool]:
        """Run ``watch`` to its end, passing its events on: why it ended, its error if any, whether it analysed."""
        reason, failure, analysed = "source ended", None, False
        self._set("running")
        try:
            for event in watch:
                if event.type == "result":
                    analysed = True
                elif event.type == "reconnecting":
                    self._set("reconnecting", event.details.get("reason"))
                elif event.type == "backend_unavailable":
                    self._set("reconnecting", event.details.get("message"))
                elif event.type in ("reconnected", "backend_restored"):
                    self._set("running")
                elif event.type == "error":
                    failure = event.details.get("message")
                elif event.type == "ended":
                    reason = event.details.get("reason", reason)
                self.supervisor.publish(self, event)
        except Exception as error:  # a plugin's bug must not end the supervisor: restarted like any failure
            log.exception("watch %s failed", self.name)
            reason, failure = "error", f"{type(error).__name__}: {error}"
        return reason, failure, analysed


class Supervisor:
    """The standing watches of one process: started from a file, kept running, reloaded in place.

    ``engine()`` gives the loaded engine (None while none is); ``turn`` wraps each inference
    (the server's model queue; a lock in the CLI); ``publish(standing, event)`` sees every event
    (the server's live dashboard, the CLI's output); ``changed(standing)`` each change of state.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        engine: Callable[[], TrioCore | None],
        alerts: Alerts | None = None,
        turn: Callable[[], contextlib.AbstractContextManager] | None = None,
        on_answer: Callable | None = None,
        publish: Callable[[StandingWatch, WatchEvent], None] | None = None,
        changed: Callable[[StandingWatch], None] | None = None,
        environ: dict[str, str] | None = None,
    ):
        self.path = Path(path) if path is not None else None
        self.engine, self.alerts, self.on_answer = engine, alerts, on_answer
        self.turn = turn
        self._publish = publish or (lambda standing, event: None)
        self._changed = changed or (lambda standing: None)
        self.environ = environ
        self.watches: dict[str, StandingWatch] = {}
        self._lock = threading.Lock()

    def publish(self, standing: StandingWatch, event: WatchEvent) -> None:
        try:
            self._publish(standing, event)
        except Exception:  # a display's bug never stops a watch
            log.exception("publishing an event of %s failed", standing.name)

    def changed(self, standing: StandingWatch) -> None:
        try:
            self._changed(standing)
        except Exception:
            log.exception("publishing the state of %s failed", standing.name)

    def read(self) -> dict[str, Entry]:
        return read_watches(self.path, self.environ) if self.path is not None else {}

    def start(self) -> dict[str, list[str]]:
        """Read the file and start its watches (a malformed file: ConfigError, nothing started)."""
        return self.reload()

    def reload(self) -> dict[str, list[str]]:
        """Read the file again and apply what changed; the others run on untouched (a ``failed`` one is started
        again). A malformed file changes nothing (ConfigError)."""
        entries = self.read()
        changes: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "unchanged": []}
        leaving: list[StandingWatch] = []
        starting: list[StandingWatch] = []
        with self._lock:  # only the listing changes under the lock: stopping waits outside it
            for name, standing in list(self.watches.items()):
                if standing.kind == "standing" and name not in entries:
                    leaving.append(self.watches.pop(name))
                    changes["stopped"].append(name)
            for name, entry in entries.items():
                current = self.watches.get(name)
                same = current is not None and current.kind == "standing" and current.entry == entry
                if same and current.state != "failed":
                    changes["unchanged"].append(name)
                    continue
                if current is not None:
                    leaving.append(current)
                standing = self.watches[name] = StandingWatch(entry, self)
                if entry.spec.enabled:
                    starting.append(standing)
                (changes["restarted"] if current is not None else changes["started"]).append(name)
            for standing in leaving:
                standing.retired = True
                standing.stop()
        deadline = time.monotonic() + 10.0
        for standing in leaving:  # the old watch lets go of its camera before the new one opens it
            standing.stop(wait_s=max(0.0, deadline - time.monotonic()))
        for standing in starting:
            standing.start()
        if any(changes[kind] for kind in ("started", "stopped", "restarted")):
            log.info("watches file %s: %s", self.path,
                     "; ".join(f"{kind} {', '.join(names)}" for kind, names in changes.items() if names))  # fmt: skip
        return changes

    def add(self, entry: Entry, *, kind: str = "background") -> StandingWatch:
        """A watch not from the file (started over the API): kept running like the others, gone when removed.
        A name taken already: ConfigError."""
        with self._lock:
            if entry.name in self.watches:
                raise ConfigError(f"A watch called {entry.name!r} already exists.")
            standing = self.watches[entry.name] = StandingWatch(entry, self, kind=kind)
        standing.start()
        return standing

    def start_watch(self, name: str) -> StandingWatch | None:
        """Start a listed watch again (stopped, failed, ended); None when there is none of that name."""
        with self._lock:
            standing = self.watches.get(name)
            if standing is not None:
                standing.start()
        return standing

    def remove(self, name: str, wait_s: float | None = None) -> StandingWatch | None:
        with self._lock:
            standing = self.watches.pop(name, None)
            if standing is not None:
                standing.retired = True
        if standing is not None:
            standing.stop(wait_s=wait_s)
        return standing

    def stop_all(self, wait_s: float = 10.0, reason: str = "stopped") -> None:
        """Stop every watch (their ``ended`` events say ``reason``), waiting up to ``wait_s`` seconds in all."""
        for standing in list(self.watches.values()):
            standing.stop(reason=reason)
        deadline = time.monotonic() + wait_s
        for standing in list(self.watches.values()):
            standing.stop(wait_s=max(0.0, deadline - time.monotonic()), reason=reason)

    def describe(self) -> list[dict[str, Any]]:
        return [standing.describe() for standing in list(self.watches.values())]
