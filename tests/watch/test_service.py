"""The watch wing's front door, WatchService: what `trio watch`, `trio watch --config` and `/v1/watch` go through."""

import os
import signal
import time

import pytest

from tests.watch.conftest import ORANGE
from trio_core import TrioCore
from trio_core.errors import ConfigError, MediaError, TrioError
from trio_core.testing import free_port
from trio_core.watch.service import WatchService


@pytest.fixture
def service(tmp_path):
    service = WatchService(tmp_path / "events")
    yield service
    service.close()


def test_a_sink_no_plugin_takes_is_refused_before_any_model_loads(service):
    with pytest.raises(ConfigError, match="No alert sink handles 'nope://'"):
        service.check_sinks(["nope://somewhere"])


def test_a_missing_file_is_refused_without_loading_the_model(service, tmp_path):
    engine = TrioCore(model="trio-tiny")
    with pytest.raises(MediaError):
        service.check_source(engine, str(tmp_path / "missing.mp4"))
    assert engine.model is None


def test_a_camera_address_without_a_host_or_a_bad_stream_setting_is_refused_before_the_model_loads(service):
    with pytest.raises(MediaError, match="has no host"):
        service.check_source(TrioCore(model="trio-tiny"), "rtsp:///cam")
    engine = TrioCore(model="trio-tiny", source_settings={"stream": {"open_timeout_s": -1}})
    with pytest.raises(ConfigError, match="open_timeout_s"):
        service.check_source(engine, "rtsp://127.0.0.1:8554/cam")
    assert engine.model is None


def test_a_condition_the_model_cannot_be_asked_is_one_sentence(service, tiny_engine, appears):
    with pytest.raises(TrioError, match="Condition"):
        service.start(tiny_engine, str(appears), [{"id": "has space", "question": ORANGE}])


def test_a_started_watch_is_open_and_records_its_alerts_in_the_service_s_store(service, tiny_engine, appears):
    watch = service.start(tiny_engine, str(appears), [ORANGE], name="porch")
    assert watch.live is False  # opened: a file, now being read
    events = list(watch)
    alerts = [event for event in events if event.type == "alert"]
    assert alerts and alerts[0].details["event_id"]
    assert [row["watch"] for row in service.alerts.store.query(watch="porch")] == ["porch"] * len(alerts)


def test_deliveries_a_sink_cannot_take_are_counted_as_owed_when_the_service_closes(tmp_path):
    service = WatchService(tmp_path / "events")
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every delivery waits to be retried
    service.check_sinks([url])
    worker = service.alerts.workers[url]
    event = {"type": "alert", "watch": "porch", "t": None, "pts": 1.0, "condition": "orange", "answer": "yes"}
    service.alerts.store.record_alert(event, source="clip.mp4", question=ORANGE, snapshot=None, sinks=[worker.key])
    assert service.close(drain_s=0.5) == 1


def test_a_malformed_file_is_not_reloaded_and_says_so(tmp_path):
    path = tmp_path / "watches.toml"
    path.write_text(f'[watches.door]\nsource = "rtsp://127.0.0.1:9/cam"\nconditions = ["{ORANGE}"]\nenabled = false\n')
    service = WatchService(tmp_path / "events", watches_file=path)
    try:
        assert service.reload_said() == (True, f"Reloaded {path}: started door")
        path.write_text("[watches.door]\nfps = 'fast'\n")
        applied, sentence = service.reload_said()
        assert not applied and sentence.startswith("Not reloaded, the watches run on as they were:")
        assert list(service.supervisor.watches) == ["door"]
    finally:
        service.close()


def test_sighup_asks_for_a_reload_and_the_previous_handler_comes_back(service):
    asked = []
    previous = signal.getsignal(signal.SIGHUP)
    restore = service.reload_on_sighup(lambda: asked.append(True))
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not asked and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        restore()
    assert asked and signal.getsignal(signal.SIGHUP) == previous
