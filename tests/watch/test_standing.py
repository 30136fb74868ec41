"""Standing watches: the TOML file (its errors name a line and a key), the supervisor, reloading, `trio watch --config`."""

import json
import time

import pytest

from tests.cli import run_trio
from tests.watch.conftest import ORANGE
from trio_core.errors import ConfigError
from trio_core.watch import conditions_from
from trio_core.watch.standing import Supervisor, read_watches

FILE = """\
[defaults]
fps = 4
cooldown_s = 0
sinks = ["mqtt://trio:${{MQTT_PASSWORD}}@127.0.0.1:1883"]

[watches.front-door]
source = "rtsp://admin:${{DOOR_PASSWORD}}@127.0.0.1:9/stream1"
conditions = ["Is someone at the door?", {{ id = "package", question = "Is there a package?" }}]
confirm = 2

[watches.clip]
source = "{clip}"
conditions = ["{question}"]
"""
SECRETS = {"MQTT_PASSWORD": "mqtt-s3cret", "DOOR_PASSWORD": "door-s3cret"}


def write(tmp_path, text: str, name: str = "watches.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_file_gives_each_watch_its_settings_defaults_and_secrets_from_the_environment(tmp_path):
    entries = read_watches(write(tmp_path, FILE.format(clip="yard.mp4", question=ORANGE)), SECRETS)
    door, clip = entries["front-door"], entries["clip"]
    assert door.spec.source == "rtsp://admin:door-s3cret@127.0.0.1:9/stream1"
    assert (door.spec.confirm, door.spec.fps, clip.spec.confirm, clip.spec.fps) == (2, 4.0, 1, 4.0)
    assert door.spec.sinks == clip.spec.sinks == ["mqtt://trio:mqtt-s3cret@127.0.0.1:1883"]
    # What may be shown: the source as the file writes it, masked, never the secret.
    assert door.label == "rtsp://***@127.0.0.1:9/stream1" and door.sinks == ["mqtt://***@127.0.0.1:1883"]
    assert [condition.id for condition in conditions_from(door.spec.conditions)] == ["is-someone-at-the-door",
                                                                                      "package"]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("confirm = 2", "confirm = 0"), "line 9: watches.front-door.confirm: Input should be greater than or equal to 1."),
        (("confirm = 2", "confrim = 2"), "line 9: watches.front-door.confrim: unknown setting; a watch has clear,"),
        (("fps = 4", "fps = 'fast'"), "line 2: defaults.fps: Input should be a valid number"),
        (("confirm = 2", "confirm = "), "Invalid value (at line 9, column 11)."),
        (("[watches.clip]", "[watches.'a b']"), "line 11: watches.\"a b\": the watch name 'a b' must be 1 to 64"),
        (("[defaults]", "[default]"), "line 1: default: unknown table 'default'"),
        (("DOOR_PASSWORD", "NOT_SET_ANYWHERE"), "line 7: watches.front-door.source: the environment variable "
         "NOT_SET_ANYWHERE is not set."),
        (("[watches.clip]", "[watches.'..']"), "the watch name '..' must be 1 to 64"),
        (('conditions = ["Is', 'conditions = [] #'), "line 8: watches.front-door.conditions: List should have at least 1"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_one_error_naming_its_line_and_key(tmp_path, change, expected):
    path = write(tmp_path, FILE.format(clip="yard.mp4", question=ORANGE).replace(*change, 1))
    with pytest.raises(ConfigError) as error:
        read_watches(path, SECRETS)
    assert str(error.value).startswith(f"{path}") and expected in str(error.value)
    assert "s3cret" not in str(error.value)


def test_a_missing_or_binary_file_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the watches file .*nope.toml: No such file"):
        read_watches(tmp_path / "nope.toml")
    (tmp_path / "binary.toml").write_bytes(b"[watches.x]\nsource = '\xff'\n")
    with pytest.raises(ConfigError, match="binary.toml is not UTF-8 text"):
        read_watches(tmp_path / "binary.toml")


def test_a_secret_anywhere_in_a_sink_url_stays_out_of_the_listing_while_the_watch_runs(tmp_path, tiny_engine, appears):
    from trio_core.testing.loopback import WebhookReceiver
    from trio_core.watch.alerts import Alerts
    from trio_core.watch.event_store import EventStore

    receiver = WebhookReceiver()
    path = write(
        tmp_path,
        f"""[watches.porch]
source = "{appears}"
conditions = ["{ORANGE}"]
sinks = ["{receiver.url}/hooks/${{HOOK_TOKEN}}"]
""",
    )
    alerts = Alerts(EventStore(tmp_path / "events"))
    running, events = supervisor(path, tiny_engine, environ={"HOOK_TOKEN": "tok-7a9c41"}, alerts=alerts)
    running.start()
    try:
        wait_for(lambda: running.watches["porch"].state == "ended")
        listing = running.describe()[0]
        assert listing["sinks"][0]["sink"] == f"{receiver.url}/hooks/***" and "tok-7a9c41" not in json.dumps(listing)
        assert alerts.drain(20) and receiver.received  # delivered to the real path, token and all
    finally:
        running.stop_all()
        alerts.close()
        receiver.close()


def wait_for(check, timeout=60.0, every=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def supervisor(path, engine, **options):
    import contextlib
    import threading

    lock = threading.Lock()

    @contextlib.contextmanager
    def turn():
        with lock:
            yield engine

    events = []
    running = Supervisor(path, engine=lambda: engine, turn=turn, publish=lambda s, e: events.append(e), **options)
    return running, events


def test_an_unreachable_camera_retries_while_the_other_watch_runs_and_alerts(tmp_path, tiny_engine, appears):
    path = write(tmp_path, FILE.format(clip=appears, question=ORANGE).replace('sinks = ["mqtt', '# sinks = ["mqtt'))
    running, events = supervisor(path, tiny_engine, environ=SECRETS)
    running.start()
    try:
        wait_for(lambda: running.watches["clip"].state == "ended")
        door = running.watches["front-door"]
        assert door.state == "retrying" and door.error.startswith("Nothing is listening at 127.0.0.1:9")
        listing = {item["id"]: item for item in running.describe()}
        assert listing["front-door"]["retry_in_s"] >= 0 and "s3cret" not in json.dumps(listing)
        assert listing["clip"]["alerts"] >= 1 and listing["clip"]["state"] == "ended"
        assert any(e.type == "alert" and e.watch == "clip" for e in events)
    finally:
        running.stop_all()
    assert {standing.state for standing in running.watches.values()} == {"stopped", "ended"}


def test_reloading_applies_only_what_changed(tmp_path, tiny_engine, appears):
    path = write(tmp_path, FILE.format(clip=appears, question=ORANGE).replace('sinks = ["mqtt', '# sinks = ["mqtt'))
    running, _ = supervisor(path, tiny_engine, environ=SECRETS)
    running.start()
    try:
        door = running.watches["front-door"]
        wait_for(lambda: door.state == "retrying")
        text = path.read_text().replace("confirm = 2", "confirm = 3")
        path.write_text(text.replace("[watches.clip]", "[watches.yard]"))
        assert running.reload() == {"started": ["yard"], "stopped": ["clip"], "restarted": ["front-door"],
                                    "unchanged": []}  # fmt: skip
        assert running.watches["front-door"] is not door and running.watches["front-door"].entry.spec.confirm == 3
        yard, door = running.watches["yard"], running.watches["front-door"]
        assert running.reload()["unchanged"] == ["front-door", "yard"]
        assert running.watches["yard"] is yard and running.watches["front-door"] is door  # not restarted
        path.write_text(text.replace("fps = 4", "fps = -1"))
        with pytest.raises(ConfigError, match="line 2: defaults.fps"):
            running.reload()
        assert running.watches["front-door"] is door and door.running  # a bad edit changes nothing
        # A watch that retrying cannot mend is failed; reloading starts it again.
        path.write_text(text.replace("rtsp://admin:${DOOR_PASSWORD}@127.0.0.1:9/stream1", "nope://camera"))
        running.reload()
        wait_for(lambda: running.watches["front-door"].state == "failed")
        failed = running.watches["front-door"]
        assert "nope" in failed.error and running.reload()["restarted"] == ["front-door"]
        assert running.watches["front-door"] is not failed
    finally:
        running.stop_all()


def test_trio_watch_config_runs_every_watch_of_the_file(tmp_path, appears):
    text = FILE.format(clip=appears, question=ORANGE).replace('sinks = ["mqtt', '# sinks = ["mqtt')
    text = text.replace("rtsp://admin:${DOOR_PASSWORD}@127.0.0.1:9/stream1", str(appears))
    path = write(tmp_path, text.replace("Is someone at the door?", ORANGE))
    result = run_trio("watch", "--config", str(path), "--model", "trio-tiny", "--max-tokens", "4", "--json",
                      "--filter", "dedup.threshold=0", "--events-dir", str(tmp_path / "events"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    ended = {event["watch"]: event for event in events if event["type"] == "ended"}
    assert set(ended) == {"front-door", "clip"} and all(e["reason"] == "source ended" for e in ended.values())
    assert {event["watch"] for event in events if event["type"] == "alert"} == {"front-door", "clip"}
    listed = run_trio("events", "list", "--json", "--events-dir", str(tmp_path / "events"), check=True)
    assert {json.loads(line)["watch"] for line in listed.stdout.splitlines()} == {"front-door", "clip"}


def test_trio_watch_config_with_a_bad_file_says_where_and_exits_1(tmp_path):
    path = write(tmp_path, "[watches.x]\nsource = 'a.mp4'\nconditions = ['Is it?']\nfps = 0\n")
    result = run_trio("watch", "--config", str(path), "--model", "trio-tiny")
    assert result.returncode == 1 and f"Error: {path}, line 4: watches.x.fps: Input should be greater than 0" in (
        result.stderr
    )
    both = run_trio("watch", "a.mp4", "--config", str(path), "--model", "trio-tiny")
    assert both.returncode == 2 and "give no SOURCE or --condition" in both.stderr


def test_trio_watch_config_reloads_the_file_on_sighup_and_keeps_running_on_a_bad_edit(tmp_path, appears):
    """A camera that is not there keeps `trio watch --config` running (retrying); SIGHUP adds a watch, a bad edit
    changes nothing, and Ctrl-C stops them all."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from trio_core.testing import free_port

    door = f'[watches.door]\nsource = "rtsp://127.0.0.1:{free_port()}/cam"\nconditions = ["{ORANGE}"]\n'
    path = write(tmp_path, door)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("trio")), "watch", "--config", str(path), "--model", "trio-tiny",
         "--max-tokens", "4", "--json", "--filter", "dedup.threshold=0", "--events-dir", str(tmp_path / "events")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # A background shell's children ignore SIGINT; Ctrl-C is what this test sends at the end.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    said: list[str] = []
    events: list[dict] = []
    readers = [
        threading.Thread(target=lambda: said.extend(process.stderr), daemon=True),
        threading.Thread(target=lambda: events.extend(json.loads(line) for line in process.stdout), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        wait_for(lambda: any(line.startswith("door: retrying") for line in said), timeout=60)
        write(tmp_path, door + f'[watches.yard]\nsource = "{appears}"\nconditions = ["{ORANGE}"]\n')
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: any(e["watch"] == "yard" and e["type"] == "ended" for e in events), timeout=60)
        write(tmp_path, door + "fps = 0\n")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: any(line.startswith("Not reloaded") for line in said))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130  # Ctrl-C's exit status
    finally:
        process.kill()
        for reader in readers:
            reader.join(timeout=5)
    assert any(line.startswith(f"Reloaded {path}: started yard; unchanged door") for line in said), said
    assert any("line 4: watches.door.fps: Input should be greater than 0" in line for line in said), said
    assert any(e["watch"] == "yard" and e["type"] == "alert" for e in events)
    assert "Stopping the watches.\n" in said
