"""How a live source waits between reconnects, and why a frame from before an outage is never analysed after it."""

import random

import numpy as np

from trio_core.frames import Frame, SourceNotice
from trio_core.sources.live import LiveSettings, backoff_delay
from trio_core.watch.engine import NewestFrame


def test_backoff_doubles_up_to_its_cap_with_jitter_around_it():
    settings = LiveSettings(backoff_initial_s=0.5, backoff_max_s=8, backoff_jitter=0)
    assert [backoff_delay(attempt, settings) for attempt in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]
    jittered = LiveSettings(backoff_initial_s=1, backoff_max_s=30, backoff_jitter=0.25)
    delays = [backoff_delay(3, jittered, random.Random(seed)) for seed in range(200)]
    assert all(3.0 <= delay <= 5.0 for delay in delays)  # 4 s, give or take a quarter
    assert len({round(delay, 3) for delay in delays}) > 100  # cameras that fail together do not retry in step


def frame(index: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), float(index), index)


def test_the_mailbox_keeps_only_the_newest_frame_and_counts_the_rest():
    mailbox = NewestFrame()
    for index in range(5):
        mailbox.put(frame(index))
    assert mailbox.take(0).index == 4 and mailbox.dropped == 4


def test_a_frame_waiting_when_the_source_drops_is_never_analysed_after_it():
    mailbox = NewestFrame()
    mailbox.put(frame(1))  # read just before the camera went away, not yet taken
    mailbox.put(SourceNotice("reconnecting", {"attempt": 1}))
    mailbox.put(SourceNotice("reconnected", {"attempt": 1}))
    mailbox.put(frame(2))
    taken = [mailbox.take(0) for _ in range(3)]
    assert [getattr(item, "kind", None) for item in taken[:2]] == ["reconnecting", "reconnected"]
    assert taken[2].index == 2 and mailbox.dropped == 1
