"""Webhooks and notifications against real receivers on loopback: signatures, retries, order, give-ups,
Apprise's own json:// scheme, and sink URLs that cannot work."""

import base64

from tests.alerts.conftest import ORANGE, STORM
from tests.cli import run_trio
from trio_core.testing.loopback import WebhookReceiver as Receiver
from trio_core.watch.alerts import Alerts
from trio_core.watch.event_store import EventStore


def watch_with(engine, storm, tmp_path, sinks, **alerts_settings):
    alerts = Alerts(EventStore(tmp_path), **alerts_settings)
    events = list(engine.watch(storm, [ORANGE], name="gate", alerts=alerts, sinks=sinks, **STORM))
    assert alerts.drain(60), "the outbox did not empty"
    alerts.close()
    return [(event.type, event.details["event_id"]) for event in events if event.type in ("alert", "cleared")]


def test_signed_posts_arrive_in_order_after_the_first_ones_fail(engine, storm, tmp_path, monkeypatch):
    receiver = Receiver(secret="s3cret", fail_first=3)
    monkeypatch.setenv("TRIO_WEBHOOK_SECRET", "s3cret")
    try:
        expected = watch_with(engine, storm, tmp_path, [f"{receiver.url}/hook?team=ops"])
    finally:
        receiver.close()
    assert [(body["type"], body["event_id"]) for body in receiver.received] == expected  # every one, in order
    assert all(attempt["valid"] for attempt in receiver.attempts)  # each body signed with the shared secret
    assert len(receiver.attempts) == len(expected) + 3
    first = [attempt["headers"]["X-Trio-Delivery"] for attempt in receiver.attempts[:4]]
    assert len(set(first)) == 1  # the failed delivery was retried as itself
    assert receiver.attempts[0]["path"] == "/hook?team=ops"  # the receiver's own query string, untouched
    alert = receiver.received[0]
    assert alert["watch"] == "gate" and alert["question"] == ORANGE
    assert base64.b64decode(alert["snapshot_jpeg_b64"])[:2] == b"\xff\xd8"
    assert "snapshot_jpeg_b64" not in receiver.received[1]  # a cleared event has no picture


def test_a_refusal_is_given_up_and_the_next_alerts_still_go(engine, storm, tmp_path):
    receiver = Receiver(fail_first=1, status=400)
    try:
        expected = watch_with(engine, storm, tmp_path, [f"{receiver.url}/#snapshot=url"], public_url="http://trio:8000")
    finally:
        receiver.close()
    assert [(body["type"], body["event_id"]) for body in receiver.received] == expected[1:]
    assert EventStore(tmp_path).deliveries() == {"rejected": 1, "delivered": len(expected) - 1}
    assert receiver.received[1]["snapshot_url"] == f"http://trio:8000/v1/events/{expected[2][1]}/snapshot.jpg"


def test_apprise_notifies_with_the_snapshot_attached(engine, storm, tmp_path):
    receiver = Receiver()
    try:
        expected = watch_with(engine, storm, tmp_path, [receiver.url.replace("http://", "json://") + "/notify"])
    finally:
        receiver.close()
    assert len(receiver.received) == len(expected)
    alert, cleared = receiver.received[:2]
    assert alert["title"] == "is-there-an-orange-square at gate: alert" and alert["type"] == "warning"
    assert alert["message"].startswith(f"{ORANGE}\nAnswer: yes (p=")
    assert base64.b64decode(alert["attachments"][0]["base64"])[:2] == b"\xff\xd8"
    assert cleared["title"].endswith(": cleared") and not cleared.get("attachments")


def test_sink_urls_that_cannot_work_are_one_sentence_before_any_model_loads(storm):
    unknown = run_trio("watch", str(storm), "-w", ORANGE, "--sink", "carrier-pigeon://coop")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    message = unknown.stderr.strip()
    assert message.startswith("Error: No alert sink handles 'carrier-pigeon://'; the sinks installed take ")
    assert "mqtt://" in message and "https://" in message and "ntfy://" in message
    option = run_trio("watch", str(storm), "-w", ORANGE, "--sink", "https://u:pw@hook.example/x#colour=red")
    assert option.returncode == 1 and "unknown option 'colour'" in option.stderr and "pw" not in option.stderr
    broker = run_trio("watch", str(storm), "-w", ORANGE, "--sink", "mqtt://")
    assert broker.returncode == 1 and "names no broker" in broker.stderr
