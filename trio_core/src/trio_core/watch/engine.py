"""Watching a source for conditions: the engine behind ``trio watch`` and ``/v1/watch``.

A watch reads a source's frames at the rate asked, lets the frame filters gate them (a gated
frame costs no inference), asks every condition about each frame that passes (together, as
one batch where the backend and optimizers allow), decides yes or no from the answer's
first-token probabilities, and keeps each condition's state (:mod:`.conditions`): an alert
starts after ``confirm`` yes frames and clears after ``clear`` no frames.

What happens is a stream of :class:`~.events.WatchEvent` (:mod:`.events`), recorded in the
event store and handed to the alert sinks (:mod:`.alerts`) before it is emitted.

Pacing: on a live source (and on a file with ``realtime``) a reader thread keeps only the
newest frame; the watch analyses the newest one each time the model is free and counts the
rest as dropped, so the lag behind live stays bounded by one inference. On a file it takes
every sampled frame, as fast as the model answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..backends import routed
from ..credentials import masked
from ..errors import BackendUnavailableError, TrioError
from ..frames import Frame, SamplingPlan, SourceNotice
from .conditions import Condition, ConditionState, answered_yes, conditions_from
from .events import WatchEvent, now_iso
from .settings import WatchSettings

if TYPE_CHECKING:
    from ..sdk import AnalysisResult, TrioCore
    from .alerts import Alerts

log = logging.getLogger("trio.watch")


_END = object()
_QUIET = object()


class NewestFrame:
    """A one-frame mailbox between a live reader and the watch: a new frame replaces one not taken yet.

    Replaced frames are counted in ``dropped``; notices (reconnecting, ...) and the end of the
    stream are never dropped.
    """

    def __init__(self):
        self._lock = threading.Condition()
        self._frame: Frame | None = None
        self._notices: deque = deque()
        self.dropped = 0

    def put(self, item) -> None:
        with self._lock:
            if isinstance(item, Frame):
                self.dropped += self._frame is not None
                self._frame = item
            else:
                if isinstance(item, SourceNotice) and item.kind == "reconnecting" and self._frame is not None:
                    # A frame from before an outage is stale once the source is back: never analyse it.
                    self.dropped += 1
                    self._frame = None
                self._notices.append(item)
            self._lock.notify()

    def take(self, timeout: float):
        """The next notice, else the newest frame; ``_QUIET`` after ``timeout`` seconds with neither."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._notices or self._frame is not None, timeout=timeout):
                return _QUIET
            if self._notices and (self._frame is None or self._notices[0] is not _END):
                return self._notices.popleft()
            frame, self._frame = self._frame, None
            return frame


def _close(frames) -> None:
    close = getattr(frames, "close", None)
    if close is not None:
        close()


class Watch:
    """A watch of one source for some conditions: iterate it for its events; :meth:`stop` ends it.

    ``target`` is what a frame source opens (a path, a URL, ``rtsp://...``); ``label`` is how
    events and listings name it (credentials are always masked). ``turn`` wraps each
    inference and yields the engine to use (the server passes its queue for the model);
    ``on_answer`` sees every answer (the server counts them in its metrics). With ``alerts``
    every alert is written to its event store before it is emitted (the event then carries
    ``event_id`` and ``snapshot``) and delivered to ``sinks`` (URLs such as ``mqtt://host``).
    """

    def __init__(
        self,
        engine: TrioCore,
        target: Any,
        conditions: list[str | dict | Condition],
        settings: WatchSettings | None = None,
        *,
        label: str | None = None,
        turn: Callable[[], contextlib.AbstractContextManager[TrioCore]] | None = None,
        on_answer: Callable[[AnalysisResult], None] | None = None,
        watch_id: str | None = None,
        alerts: Alerts | None = None,
        sinks: list[str] = (),
    ):
        self.engine = engine
        self.target = target
        self.conditions = conditions_from(conditions)
        self.settings = settings or WatchSettings()
        self.id = watch_id or uuid.uuid4().hex[:12]
        self.source = masked(label if label is not None else str(target))
        self.turn = turn or (lambda: contextlib.nullcontext(engine))
        self.on_answer = on_answer or (lambda result: None)
        self.started = time.time()
        self.states = {condition.id: ConditionState(self.settings) for condition in self.conditions}
        self.outage_since: float | None = None  # when the backend stopped answering (monotonic), while it is out
        self.unanswered = 0  # frames that went unanswered in that outage
        self.seen = self.analysed = self.gated = self.dropped = 0
        self.latency_ms = 0.0
        self._stopped = threading.Event()
        self.stop_reason = "stopped"  # said by the ended event of a watch stopped from outside
        self.ending: WatchEvent | None = None  # the ``ended`` event, once recorded
        self._opened: tuple[Any, Any] | None = None  # (frame source, its frames), once opened
        self._mailbox: NewestFrame | None = None
        self.last_frame: Frame | None = None  # the newest analysed frame (the dashboard shows it)
        self.recorder = alerts.for_watch(self, list(sinks)) if alerts is not None else None

    @property
    def alerts(self) -> int:
        return sum(state.alerts for state in self.states.values())

    def stop(self, reason: str = "stopped") -> None:
        """End the watch after the frame in progress; iteration then yields ``ended`` with ``reason``
        (``stopped``, ``client gone``, ...: the first stop's reason wins)."""
        if not self._stopped.is_set():
            self.stop_reason = reason
        self._stopped.set()
        if self._mailbox is not None:  # a quiet live source: stop now, not at the next heartbeat
            self._mailbox.put(_QUIET)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def describe(self) -> dict:
        """What a listing shows (the source masked)."""
        return {
            "id": self.id,
            "source": self.source,
            "conditions": [condition.model_dump(exclude_none=True) for condition in self.conditions],
            "fps": self.settings.fps,
            "started": self.started,
            "frames": self.analysed,
            "frames_seen": self.seen,
            "frames_gated": self.gated,
            "frames_dropped": self.dropped,
            "alerts": self.alerts,
            "alerting": sorted(name for name, state in self.states.items() if state.alerting),
            **({"sinks": self.recorder.sinks()} if self.recorder is not None and self.recorder.workers else {}),
        }

    def event(self, kind: str, **fields) -> WatchEvent:
        image = fields.pop("image", None)
        known = {name: fields.pop(name) for name in ("pts", "condition", "answer", "probability") if name in fields}
        return WatchEvent(kind, self.id, now_iso(), details=fields, image=image, **known)

    def __iter__(self) -> Iterator[WatchEvent]:
        # However iteration ends (a stop, Ctrl-C, a plugin's bug, a consumer that let go), the watch's ending is
        # recorded: the event store closes the alerts still open, and the sinks hear that they cleared.
        reason = "stopped"  # a consumer that stopped iterating
        try:
            for event in self._events():
                self._record(event)
                yield event
        except KeyboardInterrupt:
            reason = "interrupted"
            raise
        except Exception:
            reason = "error"
            raise
        finally:
            if self.ending is None:
                self._record(self.ended(reason))

    def _record(self, event: WatchEvent) -> None:
        """Into the event store (and the sinks' outbox) before anyone sees it: an emitted alert is never lost."""
        if event.type == "ended":
            self.ending = event
        if self.recorder is None:
            return
        try:
            self.recorder.record(event)
        except Exception as error:  # a full disk must not end the watch: the alert still goes out, unstored
            log.error("Could not store the %s of %s: %s", event.type, event.condition or "the watch", error)

    def interrupted(self) -> WatchEvent:
        """The ``ended`` event for a watch stopped from outside its iteration (Ctrl-C), recorded like the others
        (the one already recorded, when iteration recorded it as it unwound)."""
        if self.ending is None:
            self._record(self.ended("interrupted"))
        return self.ending

    def _events(self) -> Iterator[WatchEvent]:
        yield self.event(
            "started",
            source=self.source,
            conditions=[condition.model_dump(exclude_none=True) for condition in self.conditions],
            settings=self.settings.model_dump(exclude={"heartbeat_s"}),
        )
        try:
            filters = self._filters()
            windows = deque(maxlen=max(self._window(c) for c in self.conditions))
            for item in self._items():
                if self.stopped:
                    break
                if item is _QUIET:
                    yield self.event("heartbeat")
                    continue
                if isinstance(item, SourceNotice):
                    windows.clear()  # a clip never spans an outage
                    yield self.event(item.kind, **item.details)
                    continue
                self.seen += 1
                gate = next((f.name for f in filters if not f.keep(item)), None)
                if gate is not None:
                    self.gated += 1
                    yield self.event("gated", pts=item.timestamp, filter=gate)
                    continue
                windows.append(item)
                yield from self._analyse(item, list(windows))
            reason = self.stop_reason if self.stopped else "source ended"
        except TrioError as error:
            reason = "error"
            yield self.event("error", message=str(error))
        yield self.ended(reason)

    def ended(self, reason: str) -> WatchEvent:
        """The ``ended`` event: why, and the counts so far (also for a watch interrupted from outside); ``pts``
        is the last analysed frame's."""
        return self.event(
            "ended",
            **({"pts": self.last_frame.timestamp} if self.last_frame is not None else {}),
            reason=reason,
            frames_seen=self.seen,
            frames_analysed=self.analysed,
            frames_gated=self.gated,
            frames_dropped=self.dropped,
            alerts=self.alerts,
            mean_latency_ms=self.latency_ms / self.analysed if self.analysed else None,
        )

    # The frames -------------------------------------------------------------------------

    def _window(self, condition: Condition) -> int:
        return condition.window or self.settings.window

    def _plan(self) -> SamplingPlan:
        side = self.settings.max_side or self.engine.config.max_side
        return SamplingPlan(
            fps=self.settings.fps, min_frames=1, max_frames=10_000_000, max_side=side,
            max_pixels=self.engine.config.max_pixels,
        )  # fmt: skip

    def _filters(self):
        from ..filters import enabled_filters
        from ..plugins import registry

        return enabled_filters(self.engine.config, registry())

    def open(self) -> Watch:
        """Open the source now (iterating opens it otherwise): a wrong address or password fails here,
        as a :class:`~trio_core.errors.TrioError`, before any event."""
        if self._opened is None:
            from ..plugins import registry
            from ..sources import find_source
            from ..sources.base import check_source_settings

            sources = registry().objects("frame source")
            check_source_settings(self.engine.config, sources)
            source = find_source(self.target, sources)
            self._opened = source, source.open(self.target, self._plan(), self.engine.config)
        return self

    @property
    def live(self) -> bool:
        """Whether the opened source is live (a camera, a stream), not a file; False before it is opened."""
        if self._opened is None:
            return False
        source, frames = self._opened
        return bool(getattr(frames, "live", getattr(source, "live", False)))

    def close(self) -> None:
        """Let go of a source :meth:`open` opened, for a watch that will not be iterated (a check that it opens)."""
        if self._opened is not None:
            _close(self._opened[1])
            self._opened = None

    def _items(self) -> Iterator:
        """Frames and notices to act on, paced: every frame of a file, the newest of a live stream."""
        frames = self.open()._opened[1]
        if not (self.live or self.settings.realtime):
            try:
                yield from frames
            finally:
                _close(frames)
            return
        mailbox = self._mailbox = NewestFrame()
        failure: list[BaseException] = []
        done = threading.Event()  # the watch no longer wants frames (stopped, failed, or closed)
        reader = threading.Thread(
            target=self._read, args=(frames, mailbox, failure, done), daemon=True, name=f"trio-watch-{self.id}"
        )
        reader.start()
        try:
            while True:
                item = mailbox.take(self.settings.heartbeat_s)
                self.dropped = mailbox.dropped
                if item is _END:
                    if failure:
                        raise failure[0]
                    return
                yield item
        finally:
            done.set()  # the reader stops at its next frame
            _close(frames)  # a live source stops waiting to reconnect
            reader.join(timeout=5)

    def _read(self, frames, mailbox: NewestFrame, failure: list, done: threading.Event) -> None:
        """The reader thread: every frame into the mailbox, at the source's own pace or (``realtime``) at
        its timestamps, each stamped with when it arrived (the lag is measured from there)."""
        start = first = None
        try:
            for item in frames:
                if done.is_set() or self._stopped.is_set():
                    break
                if isinstance(item, Frame):
                    if self.settings.realtime:
                        if start is None:
                            start, first = time.monotonic(), item.timestamp
                        delay = start + (item.timestamp - first) - time.monotonic()
                        if delay > 0 and (done.wait(delay) or self._stopped.is_set()):
                            break
                    if item.captured is None:
                        item = dataclasses.replace(item, captured=time.monotonic())
                mailbox.put(item)
        except BaseException as error:  # reported by the watch, in order, after what was read
            failure.append(error)
        finally:
            mailbox.put(_END)

    # The model --------------------------------------------------------------------------

    def _analyse(self, frame: Frame, recent: list[Frame]) -> Iterator[WatchEvent]:
        started = time.perf_counter()
        try:
            answers = self._ask(recent)
        except BackendUnavailableError as error:
            # Every server is down or busy: this frame goes unanswered, the watch carries on with the next, and
            # the outage is one event (with how many frames it cost, once it is over), not one per frame.
            self.unanswered += 1
            if self.outage_since is None:
                self.outage_since = time.monotonic()
                yield self.event("backend_unavailable", pts=frame.timestamp, message=str(error))
            return
        latency = (time.perf_counter() - started) * 1000
        if self.outage_since is not None:
            outage, self.outage_since = time.monotonic() - self.outage_since, None
            yield self.event("backend_restored", pts=frame.timestamp, outage_s=round(outage, 3),
                             frames_unanswered=self.unanswered)  # fmt: skip
            self.unanswered = 0
        # Behind live: from the frame's arrival to its answer (live sources and realtime files only).
        lag = {"lag_s": time.monotonic() - frame.captured} if frame.captured is not None else {}
        self.analysed += 1
        self.latency_ms += latency
        self.last_frame = frame
        for condition in self.conditions:
            result = answers[condition.id]
            yes = answered_yes(result, self.settings.threshold)
            state = self.states[condition.id]
            change = state.observe(yes, frame.timestamp)
            # What every event about this condition's answer to this frame says.
            about = {
                "pts": frame.timestamp,
                "condition": condition.id,
                "answer": result.text,
                "probability": result.yes_probability,
            }
            yield self.event("result", **about, yes=yes, alerting=state.alerting, latency_ms=latency, **lag)
            if change == "alert":
                frames = list(state.yes_run[-self.settings.confirm :])
                yield self.event("alert", **about, question=condition.question, frames=frames, image=frame.image)
            elif change == "cleared":
                yield self.event("cleared", **about, duration_s=frame.timestamp - state.alert_started)

    def _ask(self, recent: list[Frame]) -> dict[str, AnalysisResult]:
        """Every condition's answer about the newest frame (or its window), one call per window size."""
        from ..metrics import Metrics
        from ..pipeline import Clip

        by_window: dict[int, list[Condition]] = {}
        for condition in self.conditions:
            by_window.setdefault(self._window(condition), []).append(condition)
        answers = {}
        plan = self._plan()
        with self.turn() as engine, routed(self.id):  # a remote backend keeps this camera on one server
            for size, conditions in by_window.items():
                frames = recent[-size:]
                clip = Clip(frames, plan, Metrics(frames_in=len(frames), frames_used=len(frames)), 0.0)
                ask = engine.analyze_frame_each if len(frames) == 1 else engine.analyze_video_each
                results = ask(clip, [c.question for c in conditions], yes_no=True, max_tokens=self.settings.max_tokens)
                answers.update({c.id: result for c, result in zip(conditions, results, strict=True)})
        for result in answers.values():
            self.on_answer(result)
        return answers
