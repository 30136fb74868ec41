"""The watch engine: conditions asked about each frame, a state machine per condition, one event shape."""

import contextlib
import threading
import time

import pytest

from tests.media import static_clip, write_clip
from tests.watch.conftest import APPEARS_AT, ORANGE, PURPLE, demo_frames
from trio_core.errors import TrioError
from trio_core.metrics import Metrics
from trio_core.sdk import AnalysisResult
from trio_core.watch import EVENT_TYPES, Watch, WatchSettings, conditions_from
from trio_core.watch.conditions import ConditionState, answered_yes


def run(watch):
    return [event.to_dict() for event in watch]


def test_an_alert_starts_when_the_shape_appears_and_every_event_has_the_shape_tools_parse(tiny_engine, appears):
    # trio-tiny answers some frames of the re-encoded clip "no": the alert clears, and the cooldown keeps it quiet.
    events = run(tiny_engine.watch(appears, [ORANGE, PURPLE], fps=4, cooldown_s=10))
    assert events[0]["type"] == "started" and events[-1]["type"] == "ended"
    assert {event["type"] for event in events} <= set(EVENT_TYPES)
    assert all(set(event) >= {"type", "watch", "t"} and event["watch"] == events[0]["watch"] for event in events)
    results = [event for event in events if event["type"] == "result"]
    assert all({"pts", "condition", "answer", "probability"} <= set(event) for event in results)
    orange = [event for event in results if event["condition"] == "is-there-an-orange-square"]
    assert [event["yes"] for event in orange if event["pts"] < APPEARS_AT] == [False] * 8  # clear before
    (alert,) = [event for event in events if event["type"] == "alert"]
    assert alert["condition"] == "is-there-an-orange-square" and alert["pts"] >= APPEARS_AT
    assert alert["pts"] == min(event["pts"] for event in orange if event["yes"])  # at the first yes (confirm 1)
    assert alert["probability"] >= 0.5 and alert["frames"] == [alert["pts"]] and alert["question"] == ORANGE
    assert not any(event["yes"] for event in results if event["condition"] == "is-there-a-purple-triangle")
    ended = events[-1]
    assert (ended["reason"], ended["frames_seen"], ended["frames_analysed"], ended["alerts"]) == (
        "source ended", 16, 16, 1,
    )  # fmt: skip


def test_confirm_waits_for_consecutive_yes_frames(tiny_engine, appears):
    events = run(tiny_engine.watch(appears, [ORANGE], fps=4, confirm=3, cooldown_s=0, clear=8))
    answers = [(event["pts"], event["yes"]) for event in events if event["type"] == "result"]
    third = next(i for i in range(2, len(answers)) if all(yes for _, yes in answers[i - 2 : i + 1]))
    (alert,) = [event for event in events if event["type"] == "alert"]
    assert alert["frames"] == [pts for pts, _ in answers[third - 2 : third + 1]] and alert["pts"] == answers[third][0]


def test_an_alert_carries_its_frame_as_a_jpeg(tiny_engine, appears):
    import base64
    import io

    from PIL import Image

    (alert,) = [event for event in tiny_engine.watch(appears, [ORANGE], fps=4) if event.type == "alert"]
    picture = Image.open(io.BytesIO(base64.b64decode(alert.to_dict(jpeg=True)["jpeg_b64"])))
    assert picture.format == "JPEG" and picture.size == (224, 224)
    assert "jpeg_b64" not in alert.to_dict()


def settings(**fields):
    return WatchSettings(**{"cooldown_s": 0.0, **fields})


def test_the_state_machine_confirms_clears_and_cools_down():
    state = ConditionState(settings(confirm=2, clear=2, cooldown_s=10))
    assert [state.observe(yes, pts) for pts, yes in enumerate([True, False, True, True, True])] == [
        None, None, None, "alert", None,
    ]  # fmt: skip
    assert [state.observe(False, 5), state.observe(None, 6)] == [None, "cleared"]  # no answer counts as no
    # Yes again at 7 and 8: only 5 s after the alert started at 3, so quiet; at 13 it may start again.
    assert [state.observe(True, 7), state.observe(True, 8), state.observe(True, 13)] == [None, None, "alert"]
    assert state.alerts == 2 and state.alerting


def result(text, probability=None, mass=None):
    return AnalysisResult(
        text=text, model="m", backend="b", family="f", device="cpu", finish_reason="stop", optimizers=[],
        metrics=Metrics(), yes_probability=probability, yes_no_mass=mass,
    )  # fmt: skip


def test_yes_comes_from_the_first_token_probabilities_else_from_the_text():
    assert answered_yes(result("no", 0.7, 0.99)) is True  # the probabilities decide, not the sampled text
    assert answered_yes(result("yes", 0.7, 0.99), threshold=0.8) is False
    assert answered_yes(result("Yes, there is.", 0.9, 0.1)) is True  # the model answered neither: the text
    assert answered_yes(result("No.")) is False and answered_yes(result("a circle")) is None


def test_conditions_get_ids_from_their_words():
    made = conditions_from(["Is someone at the door?", "Is someone at the door?", {"id": "car", "question": "Car?"}])
    assert [condition.id for condition in made] == ["is-someone-at-the-door", "is-someone-at-the-door-2", "car"]
    with pytest.raises(TrioError, match="at least one condition"):
        conditions_from([])


def test_a_gated_frame_costs_no_inference(gating_engine, tmp_path):
    clip = static_clip(tmp_path / "still.mp4", seconds=3, fps=10)
    answers = []
    watch = gating_engine.watch(clip, [ORANGE], fps=4)
    watch.on_answer = answers.append
    events = run(watch)
    gated = [event for event in events if event["type"] == "gated"]
    ended = events[-1]
    assert gated and all(event["filter"] == "dedup" and "pts" in event for event in gated)
    assert ended["frames_gated"] == len(gated) == ended["frames_seen"] - ended["frames_analysed"]
    assert len(answers) == ended["frames_analysed"] == 1  # only the first frame of a still scene is asked about


def test_a_window_asks_about_the_last_frames_as_a_clip(tiny_engine, appears):
    answers = []
    watch = tiny_engine.watch(appears, [ORANGE, {"id": "moving", "question": "Is it moving?", "window": 3}], fps=4)
    watch.on_answer = answers.append
    run(watch)
    # Each frame: one answer about the frame, one about the last (up to) 3 frames.
    assert [answer.metrics.frames_used for answer in answers[:8]] == [1, 1, 1, 2, 1, 3, 1, 3]


def test_stop_from_another_thread_ends_the_watch(tiny_engine, appears):
    watch = tiny_engine.watch(appears, [ORANGE], fps=4)
    events = []
    for event in watch:
        events.append(event.to_dict())
        if event.type == "result" and len(events) == 3:
            threading.Thread(target=watch.stop).start()
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "stopped"
    assert events[-1]["frames_analysed"] < 16


def test_realtime_analyses_the_newest_frame_and_drops_the_rest(tiny_engine, tmp_path):
    """A file paced as if live at 10 frames a second, on a model made slower than that: each inference
    takes the model's turn for a quarter of a second more (as a busy server's queue would), so the watch
    takes the newest frame each time and drops the others instead of falling behind."""
    frames = demo_frames()
    clip = write_clip(tmp_path / "fast.mp4", [frames[index % 8] for index in range(40)], fps=10, keyframe_interval=1)

    @contextlib.contextmanager
    def slow_turn():
        time.sleep(0.25)
        yield tiny_engine

    watch = Watch(tiny_engine, clip, [ORANGE], WatchSettings(fps=10, realtime=True, cooldown_s=0), turn=slow_turn)
    events = run(watch)
    ended = events[-1]
    analysed = [event["pts"] for event in events if event["type"] == "result"]
    assert ended["frames_dropped"] > ended["frames_analysed"] > 0
    assert ended["frames_seen"] + ended["frames_dropped"] == 40  # every frame either analysed or dropped
    assert analysed == sorted(analysed) and len(analysed) == ended["frames_analysed"] == ended["frames_seen"]
    assert all(event["lag_s"] >= 0 for event in events if event["type"] == "result")


def test_an_unreadable_source_is_an_error_event_then_ended(tiny_engine, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    events = run(tiny_engine.watch(bad, [ORANGE]))
    assert [event["type"] for event in events] == ["started", "error", "ended"]
    assert events[1]["message"].endswith(".") and events[-1]["reason"] == "error"


def test_bad_settings_are_one_sentence(tiny_engine, appears):
    with pytest.raises(TrioError, match=r"confirm: Input should be greater than or equal to 1"):
        tiny_engine.watch(appears, [ORANGE], confirm=0)
    with pytest.raises(TrioError, match="Condition 1: id: String should match pattern"):
        tiny_engine.watch(appears, [{"id": "no spaces", "question": "?"}])
