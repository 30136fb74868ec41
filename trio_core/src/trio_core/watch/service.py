"""The one front door to watching: what ``trio watch``, ``trio watch --config`` and ``/v1/watch`` all go through.

A :class:`WatchService` is one per process. It owns the event store and the sinks
(:class:`~.alerts.Alerts`) and the watches that run on by themselves (the
:class:`~.standing.Supervisor`'s: a watches file's, and the server's background ones), and it
does for every front end what each used to build for itself:

- **checks before a model loads** (:meth:`WatchService.check_sinks`,
  :meth:`WatchService.check_source`): a sink URL no sink takes, a source no plugin opens, a bad
  source setting, a missing file or an unreachable camera fail in a fraction of a second, not
  after a model has loaded;
- **starting a watch** (:meth:`WatchService.start`): one that records its alerts and delivers
  them to its sinks, opened now, so a refused password is an error and not an event;
- **reloading the watches file** (:meth:`WatchService.reload`, on SIGHUP with
  :meth:`WatchService.reload_on_sighup`), said in one sentence either way;
- **stopping** (:meth:`WatchService.stop_all`, then :meth:`WatchService.close`): every watch,
  then a little time for the sinks to take what they are still owed, then the sinks and the
  store; :class:`EndingSignals` does it on SIGINT (Ctrl-C) and SIGTERM (systemd, ``docker
  stop``), each watch's ``ended`` event saying ``interrupted`` or ``terminated``.

The front ends keep only what is theirs: the CLI its display and Ctrl-C, the server its
media rules, its model queue and its event streams.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import TrioError
from .alerts import Alerts
from .engine import Watch
from .event_store import EventStore
from .standing import Supervisor

if TYPE_CHECKING:
    from ..outbound import Reach
    from ..sdk import AnalysisResult, TrioCore
    from .conditions import Condition
    from .events import WatchEvent
    from .settings import WatchSettings
    from .standing import StandingWatch


def new_watch(
    engine: TrioCore, target: Any, conditions: list[str | dict | Condition], settings: WatchSettings | None, **options
) -> Watch:
    """A :class:`Watch` (not yet opened); a condition that cannot be asked (an empty question, a bad id) is one
    :class:`~trio_core.errors.TrioError` naming it. ``options`` are :class:`Watch`'s keyword arguments."""
    try:
        return Watch(engine, target, conditions, settings, **options)
    except ValidationError as error:
        problem = error.errors()[0]
        raise TrioError(f"Condition {'.'.join(map(str, problem['loc']))}: {problem['msg']}.") from None


class WatchService:
    """The watches of one process: its event store and sinks, its standing watches, and the way every watch starts.

    ``events_dir`` is the event store's folder (default: trio's per-user data folder);
    ``public_url`` the server's own address, where webhooks may fetch a snapshot; ``watches_file``
    the standing watches (None: none). ``engine()`` gives the loaded engine (None while none is);
    ``turn`` wraps each inference of the standing watches (default: one answer at a time on that
    engine); ``on_answer``, ``publish(standing, event)`` and ``changed(standing)`` are the
    :class:`~.standing.Supervisor`'s.
    """

    def __init__(
        self,
        events_dir: Path | None = None,
        *,
        public_url: str | None = None,
        watches_file: Path | None = None,
        engine: Callable[[], TrioCore | None] = lambda: None,
        turn: Callable[[], contextlib.AbstractContextManager[TrioCore]] | None = None,
        on_answer: Callable[[AnalysisResult], None] | None = None,
        publish: Callable[[StandingWatch, WatchEvent], None] | None = None,
        changed: Callable[[StandingWatch], None] | None = None,
    ):
        self.alerts = Alerts(EventStore(events_dir), public_url=public_url)
        self._model = threading.Lock()
        self.supervisor = Supervisor(
            watches_file, engine=engine, alerts=self.alerts, turn=turn or self._one_at_a_time, on_answer=on_answer,
            publish=publish, changed=changed,
        )  # fmt: skip

    @contextlib.contextmanager
    def _one_at_a_time(self) -> Iterator[TrioCore]:
        """The default turn: the watches of this process share one model, one answer at a time."""
        with self._model:
            yield self.supervisor.engine()

    # Before a model loads ------------------------------------------------------------------------

    def check_sinks(self, urls: list[str], reach: Reach | None = None) -> None:
        """Open the sinks for ``urls`` now: an unknown scheme or an unusable URL is a ConfigError here. ``reach``:
        a request named them, and they connect only where it allows (an AddressRefused here where they cannot)."""
        self.alerts.sinks(list(urls), reach)

    def check_source(self, engine: TrioCore, target: Any) -> None:
        """Whether ``target`` can be watched with ``engine``'s settings (not loaded yet): its source settings are
        valid, a plugin opens it, and a live one answers or a file has a frame; else one TrioError."""
        from ..plugins import registry
        from ..sources import find_source
        from ..sources.base import check_source_settings

        sources = registry().objects("frame source")
        check_source_settings(engine.config, sources)
        found = find_source(target, sources)
        if found.live:
            found.check(target, engine.config)
        else:
            engine.read_frame(target)

    # Watches -------------------------------------------------------------------------------------

    def start(
        self,
        engine: TrioCore,
        target: Any,
        conditions: list[str | dict | Condition],
        settings: WatchSettings | None = None,
        *,
        name: str | None = None,
        label: str | None = None,
        turn: Callable[[], contextlib.AbstractContextManager[TrioCore]] | None = None,
        on_answer: Callable[[AnalysisResult], None] | None = None,
        sinks: list[str] = (),
    ) -> Watch:
        """A watch of ``target`` that keeps its alerts in the event store and delivers them to ``sinks``, its source
        opened now: a wrong address or password is a TrioError here, before any event. Iterate it for its events."""
        watch = new_watch(
            engine, target, conditions, settings, label=label, turn=turn, on_answer=on_answer, watch_id=name,
            alerts=self.alerts, sinks=list(sinks),
        )  # fmt: skip
        return watch.open()

    def probe(self, engine: TrioCore, target: Any, conditions: list, settings: WatchSettings, *, label: str) -> None:
        """Open ``target`` once and let go of it: whether a watch of it would start (a webcam is one device and a
        camera counts connections, so a watch that will run elsewhere must not keep this one)."""
        new_watch(engine, target, conditions, settings, label=label).open().close()

    # The watches file ----------------------------------------------------------------------------

    def running(self) -> bool:
        """Whether any standing or background watch still runs."""
        return any(standing.running for standing in list(self.supervisor.watches.values()))

    def reload(self) -> dict[str, list[str]]:
        """Read the watches file again and apply what changed (:meth:`~.standing.Supervisor.reload`); a malformed
        file is a ConfigError and changes nothing."""
        return self.supervisor.reload()

    def reload_said(self) -> tuple[bool, str]:
        """Reload, and say how it went in one sentence: (whether it was applied, the sentence)."""
        try:
            changes = self.reload()
        except TrioError as error:
            return False, f"Not reloaded, the watches run on as they were: {error}"
        done = "; ".join(f"{kind} {', '.join(names)}" for kind, names in changes.items() if names)
        return True, f"Reloaded {self.supervisor.path}: {done or 'no watches'}"

    def reload_on_sighup(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` on SIGHUP (it runs in a signal handler: it should only ask for :meth:`reload`, not do
        it); what it returns puts the previous handler back. Nothing happens off the main thread or without
        SIGHUP (Windows)."""
        try:
            previous = signal.signal(signal.SIGHUP, lambda signum, frame: wake())
        except (ValueError, AttributeError):
            return lambda: None

        def restore() -> None:
            with contextlib.suppress(ValueError):  # None: a handler not set from Python, put back as the default
                signal.signal(signal.SIGHUP, previous if previous is not None else signal.SIG_DFL)

        return restore

    # Stopping ------------------------------------------------------------------------------------

    def stop_all(self, wait_s: float = 10.0, reason: str = "stopped") -> None:
        """Stop the standing and background watches (their ``ended`` events say ``reason``), waiting up to
        ``wait_s`` seconds for them to let go."""
        self.supervisor.stop_all(wait_s, reason)

    def close(self, drain_s: float = 0.0) -> int:
        """After the watches stopped (:meth:`stop_all`): wait up to ``drain_s`` seconds for the sinks to take what
        they are owed, and close them and the store; how many deliveries are still owed (they wait in the outbox
        for the next watch with that sink)."""
        try:
            if drain_s and self.alerts.workers and not self.alerts.drain(drain_s):
                return sum(worker.pending() for worker in self.alerts.workers.values())
            return 0
        finally:
            self.alerts.close()


# Signals that end a process ---------------------------------------------------------------------

ENDING_SIGNALS = {"SIGINT": "interrupted", "SIGTERM": "terminated"}
EXIT_STATUS = {"interrupted": 130, "terminated": 143}  # 128 + the signal's number, as a shell reports it
SIGNAL_DRAIN_S = 5.0  # what a signalled process gives its sinks: well inside docker stop's 10 s


class EndingSignals:
    """SIGINT (Ctrl-C) and SIGTERM (systemd, ``docker stop``) end the watches cleanly, as a context manager.

    The first signal calls ``stop(reason)`` (``interrupted`` or ``terminated``: the ``ended`` events say it)
    and sets :attr:`reason`; the process then ends its watches, gives its sinks a few seconds and closes the
    store, and exits with :data:`EXIT_STATUS` [reason]. ``stop`` runs in a signal handler: it should only ask
    (``Watch.stop``, an event), never wait. A second signal, while that takes its time, raises
    KeyboardInterrupt; with ``chain`` (a server whose own handlers shut it down) every signal is also passed
    to the handler that was there before. Off the main thread, or on a system without the signal, nothing
    is installed.
    """

    def __init__(self, stop: Callable[[str], None], *, chain: bool = False):
        self.stop, self.chain = stop, chain
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> EndingSignals:
        for name in ENDING_SIGNALS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            try:
                self._previous[number] = signal.signal(number, self._handle)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            with contextlib.suppress(ValueError):  # None: a handler not set from Python, put back as the default
                signal.signal(number, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def exit_status(self) -> int | None:
        return EXIT_STATUS.get(self.reason) if self.reason else None

    def _handle(self, number: int, frame) -> None:
        first = self.reason is None
        if first:
            self.reason = ENDING_SIGNALS[signal.Signals(number).name]
            self.stop(self.reason)
        previous = self._previous.get(number)
        if self.chain:
            if callable(previous):
                previous(number, frame)
        elif not first:
            raise KeyboardInterrupt
