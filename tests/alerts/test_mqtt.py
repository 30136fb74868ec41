"""The MQTT sink against a real broker (mosquitto on loopback): states, events, snapshots, Home Assistant
discovery, retained flags, an outage in the middle of an alert storm, and credentials."""

import json
import threading
import time

from tests.alerts.conftest import ORANGE, STORM
from trio_core.testing.loopback import Mosquitto, Subscriber
from trio_core.watch.alerts import Alerts
from trio_core.watch.event_store import EventStore

CONDITION = "is-there-an-orange-square"


def test_states_events_snapshots_and_discovery_reach_the_broker(engine, storm, broker, tmp_path):
    live = Subscriber(broker.port)
    alerts = Alerts(EventStore(tmp_path))
    events = list(engine.watch(storm, [ORANGE], name="porch", alerts=alerts, sinks=[f"mqtt://127.0.0.1:{broker.port}"],
                               **STORM))  # fmt: skip
    assert alerts.drain(30)
    alerts.close()
    ids = [event.details["event_id"] for event in events if event.type == "alert"]
    base = f"trio/porch/{CONDITION}"
    live.wait_for(lambda messages: len(live.on(f"{base}/event")) == 80)
    states = live.on(f"{base}/state")
    assert states[0] == b"OFF" and states[1:] == [b"ON", b"OFF"] * 40  # clear at the start, then each alert
    delivered = [json.loads(payload) for payload in live.on(f"{base}/event")]
    assert [(event["type"], event["event_id"]) for event in delivered] == [
        (kind, event_id) for event_id in ids for kind in ("alert", "cleared")
    ]
    assert delivered[0]["probability"] > 0.5 and delivered[0]["question"] == ORANGE
    assert all(payload[:2] == b"\xff\xd8" for payload in live.on(f"{base}/snapshot"))
    live.close()
    # A newcomer (Home Assistant starting later) gets what is retained: discovery, the states, the last picture.
    late = Subscriber(broker.port)
    retained = late.wait_for(lambda messages: {topic: (payload, flag) for topic, payload, flag, _ in messages}
                             if any(m[0] == "trio/porch/snapshot" for m in messages) else None)  # fmt: skip
    late.close()
    sensor = json.loads(retained[f"homeassistant/binary_sensor/trio_porch/{CONDITION}/config"][0])
    assert sensor["state_topic"] == f"{base}/state" and sensor["payload_on"] == "ON" and sensor["name"] == ORANGE
    assert sensor["unique_id"] == f"trio_porch_{CONDITION}" and sensor["device"]["identifiers"] == ["trio_porch"]
    assert {entry["topic"] for entry in sensor["availability"]} == {"trio/availability", "trio/porch/availability"}
    image = json.loads(retained["homeassistant/image/trio_porch/snapshot/config"][0])
    assert image["image_topic"] == "trio/porch/snapshot" and image["content_type"] == "image/jpeg"
    assert retained[f"{base}/state"] == (b"OFF", True)
    assert retained["trio/porch/snapshot"][1] is True and retained["trio/porch/snapshot"][0][:2] == b"\xff\xd8"
    assert retained["trio/porch/availability"] == (b"offline", True)  # the watch ended
    assert retained["trio/availability"] == (b"offline", True)  # and trio let go of the broker
    assert f"{base}/event" not in retained  # events are a stream, not a state


def test_a_broker_outage_during_an_alert_storm_loses_nothing_and_keeps_the_order(engine, storm, broker, tmp_path):
    live = Subscriber(broker.port, f"trio/storm/{CONDITION}/event", lasting=True)
    alerts = Alerts(EventStore(tmp_path))
    watch = engine.watch(storm, [ORANGE], name="storm", alerts=alerts, sinks=[f"mqtt://127.0.0.1:{broker.port}"],
                         realtime=True, **STORM)  # fmt: skip
    emitted = []
    runner = threading.Thread(target=lambda: emitted.extend(watch))
    runner.start()
    live.wait_for(lambda messages: len(messages) >= 6)
    broker.stop()  # the broker goes away for a few seconds while alerts keep coming
    time.sleep(4)
    broker.start()
    runner.join(60)
    assert alerts.drain(60), "the outbox did not empty after the broker came back"
    alerts.close()
    expected = [(event.type, event.details["event_id"]) for event in emitted if event.type in ("alert", "cleared")]
    # 80 when the model keeps up with the clip's pace; a loaded machine drops frames (realtime), so fewer. What
    # this test is about: every one of them arrives, in order.
    assert len(expected) >= 40
    live.wait_for(lambda messages: len({message[1] for message in messages}) >= len(expected), timeout=60)
    arrived = []
    for payload in live.on(f"trio/storm/{CONDITION}/event"):  # at least once: a resend may repeat one
        event = json.loads(payload)
        if (event["type"], event["event_id"]) not in arrived:
            arrived.append((event["type"], event["event_id"]))
    live.close()
    assert arrived == expected


def test_a_broker_that_refuses_the_credentials_is_one_clear_problem_and_the_watch_goes_on(engine, storm, tmp_path):
    broker = Mosquitto(tmp_path, users={"trio": "right"}).start()
    try:
        alerts = Alerts(EventStore(tmp_path / "events"))
        wrong = f"mqtt://trio:wrong@127.0.0.1:{broker.port}"
        watch = engine.watch(storm, [ORANGE], alerts=alerts, sinks=[wrong], **STORM)
        events = list(watch)
        assert sum(event.type == "alert" for event in events) == 40  # the sink's trouble never reached the watch
        sink = watch.describe()["sinks"][0]
        assert sink["sink"] == f"mqtt://***@127.0.0.1:{broker.port}" and sink["pending"] == 80
        assert "refused trio" in sink["problem"] and "wrong" not in sink["problem"]
        alerts.close()
        # With the right password, the next watch on that broker delivers what the first one still owed.
        live = Subscriber(broker.port, f"trio/+/{CONDITION}/event", username="trio", password="right")
        again = Alerts(EventStore(tmp_path / "events"))
        again.sinks([f"mqtt://trio:right@127.0.0.1:{broker.port}"])
        assert again.drain(30)
        again.close()
        live.wait_for(lambda messages: len(messages) >= 80)
        live.close()
    finally:
        broker.stop()
