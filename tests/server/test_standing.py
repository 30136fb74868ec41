"""Standing and background watches on the server: listed with their state, stopped and started, reloaded in place
(admin endpoint and SIGHUP), and the live view of every watch."""

import json
import signal
import time

import httpx
from httpx_sse import connect_sse

from tests.server.conftest import app_client, running_server
from tests.watch.conftest import ORANGE
from tests.watch.test_standing import wait_for

ADMIN = {"Authorization": "Bearer admin-key"}
USER = {"Authorization": "Bearer user-key"}


def watches_file(tmp_path, clip, *, extra: str = "") -> str:
    path = tmp_path / "watches.toml"
    path.write_text(f"""
[defaults]
fps = 4
cooldown_s = 0

[watches.clip]
source = "{clip}"
conditions = [{{ id = "orange", question = "{ORANGE}" }}]

[watches.door]
source = "rtsp://admin:${{DOOR_PASSWORD}}@127.0.0.1:9/stream"
conditions = ["Is someone at the door?"]
{extra}""")
    return str(path)


def listing(client, headers=USER) -> dict:
    return {watch["id"]: watch for watch in client.get("/v1/watch", headers=headers).json()["watches"]}


def test_standing_watches_are_listed_with_their_state_and_stopped_started_and_reloaded(tmp_path, appears, monkeypatch):
    monkeypatch.setenv("DOOR_PASSWORD", "door-s3cret")
    path = watches_file(tmp_path, appears)
    settings = {"watches": path, "events_dir": str(tmp_path / "events"), "api_keys": ["user-key"],
                "admin_keys": ["admin-key"], "max_watches": 1, "media_roots": [str(appears.parent)]}  # fmt: skip
    with app_client(**settings) as client:
        wait_for(lambda: listing(client)["clip"]["state"] == "ended")
        watches = listing(client)
        assert watches["clip"]["kind"] == "standing" and watches["clip"]["alerts"] >= 1
        assert watches["door"]["state"] == "retrying" and "Nothing is listening" in watches["door"]["error"]
        assert "door-s3cret" not in json.dumps(watches) and watches["door"]["source"] == "rtsp://***@127.0.0.1:9/stream"
        frame = client.get("/v1/watch/clip/frame.jpg", headers=USER)
        assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
        assert client.get("/v1/watch/door/frame.jpg", headers=USER).status_code == 404

        assert client.delete("/v1/watch/door", headers=USER).json() == {"id": "door", "state": "stopped"}
        assert listing(client)["door"]["state"] == "stopped"
        assert client.post("/v1/watch/door/start", headers=USER).json()["state"] in ("starting", "retrying")
        assert client.post("/v1/watch/nope/start", headers=USER).status_code == 404

        # Reloading: only with an admin key; a bad edit is a 400 naming the line, and changes nothing.
        door = client.app.state.watches.supervisor.watches["door"]
        assert client.post("/v1/admin/watches/reload", headers=USER).status_code == 403
        (tmp_path / "watches.toml").write_text((tmp_path / "watches.toml").read_text().replace("fps = 4", "fps = 0"))
        bad = client.post("/v1/admin/watches/reload", headers=ADMIN)
        assert (
            bad.status_code == 400
            and "watches.toml, line 3: defaults.fps: Input should be greater than 0" in (bad.json()["error"]["message"])
        )
        assert client.app.state.watches.supervisor.watches["door"] is door
        watches_file(tmp_path, appears, extra=f'[watches.yard]\nsource = "{appears}"\nconditions = ["{ORANGE}"]\n')
        changes = client.post("/v1/admin/watches/reload", headers=ADMIN).json()
        assert (changes["started"], changes["unchanged"]) == (["yard"], ["clip", "door"])
        assert client.app.state.watches.supervisor.watches["door"] is door  # untouched
        # The file's watches do not count against max_watches: a caller may still start one.
        background = {"source": str(appears), "conditions": [{"id": "o", "question": ORANGE}], "name": "bg",
                      "background": True, "fps": 4}  # fmt: skip
        assert client.post("/v1/watch", json={**background, "name": "clip"}, headers=USER).status_code == 409
        started = client.post("/v1/watch", json=background, headers=USER)
        assert started.status_code == 201 and started.json()["kind"] == "background"
        assert client.post("/v1/watch", json={**background, "name": "bg2"}, headers=USER).status_code == 429
        wait_for(lambda: listing(client)["bg"]["state"] == "ended")
        assert client.delete("/v1/watch/bg", headers=USER).json()["state"] == "removed"
        assert "bg" not in listing(client)


def test_the_live_view_streams_every_watchs_events_and_states(tmp_path, appears):
    settings = {"events_dir": str(tmp_path / "events"), "media_roots": [str(appears.parent)]}
    with app_client(**settings) as client:
        body = {"source": str(appears), "conditions": [{"id": "orange", "question": ORANGE}], "name": "live",
                "background": True, "fps": 4, "cooldown_s": 0}  # fmt: skip
        seen = []
        with connect_sse(client, "GET", "/v1/watch/live") as source:
            for event in source.iter_sse():
                seen.append((event.event, json.loads(event.data)))
                if event.event == "watches":
                    assert client.post("/v1/watch", json=body).status_code == 201
                if event.event == "ended":
                    break
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "watches" and {"watch", "started", "result", "alert", "ended"} <= set(kinds)
    alert = next(data for kind, data in seen if kind == "alert")
    assert alert["watch"] == "live" and alert["event_id"] and "jpeg_b64" not in alert


def test_trio_serve_watches_reloads_on_sighup_and_keeps_secrets_out_of_its_log(tmp_path, appears):
    path = watches_file(tmp_path, appears)
    env = {"DOOR_PASSWORD": "door-s3cret", "TRIO_EVENTS_DIR": str(tmp_path / "events")}
    with running_server("--model", "trio-tiny", "--watches", path, env=env) as (url, process):
        wait_for(lambda: {w["id"] for w in httpx.get(url + "/v1/watch").json()["watches"]} == {"clip", "door"})
        watches_file(tmp_path, appears, extra=f'[watches.yard]\nsource = "{appears}"\nconditions = ["{ORANGE}"]\n')
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "yard" in {w["id"] for w in httpx.get(url + "/v1/watch").json()["watches"]})
        time.sleep(0.5)
        log = process.log.read_text()
    assert "started yard" in log and "door-s3cret" not in log


def test_trio_serve_with_a_malformed_watches_file_says_where_and_exits_1(tmp_path):
    from tests.cli import run_trio

    path = tmp_path / "watches.toml"
    path.write_text("[watches.x]\nsource = 'a.mp4'\nconditions = 'Is it?'\n")
    result = run_trio("serve", "--model", "trio-tiny", "--watches", str(path))
    assert result.returncode == 1 and "line 3: watches.x.conditions: Input should be a valid list" in result.stderr
