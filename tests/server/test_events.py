"""/v1/events: the event store over HTTP, fed by /v1/watch, whose watches also deliver to sinks."""

import io
import json

from httpx_sse import connect_sse
from PIL import Image

from tests.server.conftest import DEMO, app_client
from trio_core.testing.loopback import WebhookReceiver as Receiver

ORANGE = {"id": "orange", "question": "Is there an orange square?"}


def watch(client, **body):
    with connect_sse(client, "POST", "/v1/watch", json={"source": "moving.mp4", "conditions": [ORANGE], **body}) as s:
        assert s.response.status_code == 200, s.response.read()
        return [json.loads(event.data) for event in s.iter_sse()]


def test_a_watch_s_alerts_are_listed_shown_and_their_snapshots_served(tmp_path):
    receiver = Receiver(secret="k")
    with app_client(media_roots=[str(DEMO)], events_dir=str(tmp_path), allow_private_urls=True) as client:
        seen = watch(client, name="desk", fps=4, cooldown_s=0, sinks=[f"{receiver.url}/x#secret=k"])
        alerts = [event for event in seen if event["type"] == "alert"]
        assert alerts and all(isinstance(alert["event_id"], int) for alert in alerts)
        listed = client.get("/v1/events", params={"watch": "desk"}).json()
        assert [event["id"] for event in listed["events"]] == [alert["event_id"] for alert in reversed(alerts)]
        one = client.get(f"/v1/events/{alerts[0]['event_id']}").json()
        assert one["condition"] == "orange" and one["watch"] == "desk" and one["source"] == "moving.mp4"
        picture = client.get(one["snapshot_url"])
        assert picture.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(picture.content))
        page = client.get("/v1/events", params={"limit": 1}).json()
        assert len(page["events"]) == 1 and page["next_before"] == page["events"][0]["id"]
        assert client.get("/v1/events", params={"condition": "purple"}).json()["events"] == []
        # The client's mistakes are 4xx, each one sentence.
        assert client.get("/v1/events/999").status_code == 404
        assert client.get("/v1/events/999/snapshot.jpg").status_code == 404
        bad = client.get("/v1/events", params={"since": "last tuesday"})
        assert bad.status_code == 400 and "is not a time" in bad.json()["error"]["message"]
        unknown = client.post(
            "/v1/watch", json={"source": "moving.mp4", "conditions": [ORANGE], "sinks": ["pigeon://coop"]}
        )
        assert unknown.status_code == 400 and "No alert sink handles 'pigeon://'" in unknown.json()["error"]["message"]
        client.app.state.alerts.drain(30)
    receiver.close()
    assert [body["event_id"] for body in receiver.received if body["type"] == "alert"] == [
        alert["event_id"] for alert in alerts
    ]
    assert all(attempt["valid"] for attempt in receiver.attempts)


def test_a_webhook_to_a_private_address_is_refused_by_default(tmp_path):
    with app_client(media_roots=[str(DEMO)], events_dir=str(tmp_path)) as client:
        refused = client.post(
            "/v1/watch", json={"source": "moving.mp4", "conditions": [ORANGE], "sinks": ["http://127.0.0.1:9/x"]}
        )
        assert refused.status_code == 403 and "private" in refused.json()["error"]["message"]
