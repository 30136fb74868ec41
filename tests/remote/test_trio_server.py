"""The remote backend against real trio servers on loopback: the same answers as the local backend, media sent
once, a watch that alerts, a second server that takes over, and a saturated server that is waited for."""

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.remote.conftest import DEMO_CLIP, DEMO_PICTURE, ORANGE, remote
from tests.server.conftest import running_server
from trio_core import TrioCore
from trio_core.backends import routed
from trio_core.errors import BackendUnavailableError, ConfigError, ModelLoadError

QUESTIONS = ["Is there an orange square?", "Is there a red circle?", "Is there a blue triangle?"]


def trio(*args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("trio")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_analyze_on_the_bundled_clip_answers_as_the_local_backend(trio_server, tiny_engine):
    url, _ = trio_server
    done = trio("analyze", DEMO_CLIP, "-q", QUESTIONS[0], "--endpoint", url, "--model", "trio-tiny", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    local = TrioCore(model="trio-tiny").load()
    try:
        assert answer["text"] == local.analyze_video(DEMO_CLIP, QUESTIONS[0]).text == "yes"
        assert answer["backend"] == "openai" and answer["metrics"]["endpoint"] == url
        assert answer["metrics"]["prompt_tokens"] > 0  # the server's usage
        engine = remote(url)
        try:
            for target in (DEMO_CLIP, DEMO_PICTURE):
                for question in QUESTIONS:
                    ours, theirs = (
                        local.analyze_video(target, question, yes_no=True),
                        engine.analyze_video(target, question, yes_no=True),
                    )
                    assert theirs.text == ours.text
                    # From the server's top_logprobs: the local probability, less what JPEG changed.
                    assert abs(theirs.yes_probability - ours.yes_probability) < 0.02
        finally:
            engine.close()
    finally:
        local.close()


def test_a_trio_server_says_what_it_takes_so_nothing_is_probed(trio_server):
    url, _ = trio_server
    engine = remote(url)
    try:
        (endpoint,) = engine.model.endpoints_report()
        found = endpoint["capabilities"]
        assert found["found_by"] == "model card" and found["server"] == "trio"
        assert (found["video"], found["media_ids"], found["logprobs"]) == ("frames", True, True)  # its preference
        assert found["yes_no"] == "first-token logprobs"
    finally:
        engine.close()


@pytest.mark.parametrize("media", ["video_url", "frames", "images"])
def test_each_way_of_sending_a_clip_gets_an_answer(trio_server, media):
    url, _ = trio_server
    engine = remote(url, media=media)
    try:
        result = engine.analyze_video(DEMO_CLIP, QUESTIONS[0], yes_no=True)
        assert result.text == "yes" and result.yes_probability > 0.5
        assert result.metrics.frames_used == 4
    finally:
        engine.close()


def test_a_frame_asked_several_questions_is_sent_once_then_by_id(trio_server):
    url, _ = trio_server
    with_ids, without = remote(url), remote(url, media_ids="off")
    try:
        picture = TrioCore(model="trio-tiny").read_frame(DEMO_PICTURE)
        ours = with_ids.analyze_frame_each(picture, QUESTIONS, yes_no=True)
        plain = without.analyze_frame_each(picture, QUESTIONS, yes_no=True)
        assert [r.text for r in ours] == [r.text for r in plain] == ["no", "yes", "no"]
        sent = [r.metrics.sent_bytes for r in ours]
        assert sent[0] > 10_000 and max(sent[1:]) < 1_000  # the picture once, then its id
        assert min(r.metrics.sent_bytes for r in plain) > 10_000
    finally:
        with_ids.close()
        without.close()


def test_a_server_that_did_not_keep_the_media_is_sent_the_bytes_again():
    # 10 KB for media kept by id: the picture (448 x 448 pixels) is never kept, so its id always misses.
    with running_server("--model", "trio-tiny", env={"TRIO_MEDIA_IDS_MB": "0.01"}) as (url, _):
        engine = remote(url + "/v1")
        try:
            picture = engine.read_frame(DEMO_PICTURE)
            first = engine.analyze_frame(picture, QUESTIONS[1])
            again = engine.analyze_frame(picture, QUESTIONS[1])  # sent by id, refused, sent again with its bytes
            assert first.text == again.text == "yes"
            assert again.metrics.sent_bytes > 10_000
        finally:
            engine.close()


def test_a_model_the_server_does_not_serve_names_the_ones_it_does(trio_server):
    url, _ = trio_server
    with pytest.raises(ModelLoadError, match=r"does not serve the model 'Qwen/x' \(it serves: trio-tiny\): pass "
                                             r"--model trio-tiny\."):  # fmt: skip
        TrioCore(model="Qwen/x", endpoints=[url]).load()


def test_endpoints_that_cannot_work_are_one_sentence_each():
    from trio_core.testing import free_port

    port = free_port()
    with pytest.raises(ModelLoadError, match=rf"nothing is listening at http://127.0.0.1:{port}/v1 \(connection "
                                             r"refused\)\): start the server, or check --endpoint\."):  # fmt: skip
        TrioCore(model="trio-tiny", endpoints=[f"http://127.0.0.1:{port}/v1"]).load()
    with pytest.raises(ConfigError, match="needs the server that runs the model: pass --endpoint URL"):
        TrioCore(model="trio-tiny", backend="openai").load()
    with pytest.raises(ConfigError, match="is not an http"):
        TrioCore(model="trio-tiny", endpoints=["ftp://127.0.0.1/v1"]).load()
    with pytest.raises(ConfigError) as carries:
        TrioCore(model="trio-tiny", endpoints=["http://me:s3cret@127.0.0.1:1/v1"]).load()
    assert "s3cret" not in str(carries.value) and "give the key with --api-key" in str(carries.value)
    with pytest.raises(ConfigError, match=r"--backend-setting openai.max_concurrency: Input should be greater"):
        TrioCore(model="trio-tiny", endpoints=["http://127.0.0.1:1/v1"],
                 backend_settings={"openai": {"max_concurrency": 0}}).load()  # fmt: skip


def test_a_key_the_server_refuses_is_one_sentence_that_never_shows_it():
    with running_server("--model", "trio-tiny", "--api-key", "right-key") as (url, _):
        with pytest.raises(ConfigError) as refused:
            TrioCore(model="trio-tiny", endpoints=[url + "/v1"], api_key="wrong-key-123").load()
        assert "answered 401" in str(refused.value) and "check --api-key" in str(refused.value)
        assert "wrong-key-123" not in str(refused.value)
        engine = TrioCore(model="trio-tiny", endpoints=[url + "/v1"], api_key="right-key").load()
        assert engine.analyze_video(DEMO_PICTURE, QUESTIONS[1]).text == "yes"
        assert "right-key" not in repr(engine.config) and "right-key" not in json.dumps(engine.model.endpoints_report())
        engine.close()


def test_a_watch_over_a_file_alerts_through_a_remote_server(trio_server, appears):
    url, _ = trio_server
    done = trio("watch", str(appears), "--condition", ORANGE, "--fps", "2", "--endpoint", url, "--model",
                "trio-tiny", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    alerts = [event for event in events if event["type"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["pts"] >= 2.0
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "source ended"


def test_a_second_server_takes_over_when_the_first_is_killed(trio_server):
    first_url, _ = trio_server
    with running_server("--model", "trio-tiny") as (second_url, second):
        second_url += "/v1"
        engine = remote(first_url, second_url)
        try:
            # The camera whose preferred server is the second one, which is about to go.
            name = next(f"cam{i}" for i in range(100) if engine.model.pool.ranked(f"cam{i}")[0].label == second_url)
            with routed(name):
                before = engine.analyze_frame_each(DEMO_PICTURE, QUESTIONS, yes_no=True)
                assert {r.metrics.endpoint for r in before} == {second_url}
                second.kill()
                second.wait()
                after = engine.analyze_frame_each(DEMO_PICTURE, QUESTIONS, yes_no=True)
            assert {r.metrics.endpoint for r in after} == {first_url}
            assert [r.text for r in after] == [r.text for r in before]
            left_out = {e["url"]: e for e in engine.model.endpoints_report()}[second_url]
            assert "connection refused" in left_out["error"]  # tried again once its backoff (0.2 s here) is over
        finally:
            engine.close()


def test_a_saturated_server_answers_429_and_is_waited_for(caplog):
    with running_server("--model", "trio-tiny", "--queue-size", "0") as (url, _):
        engine = remote(url + "/v1", max_concurrency=4, backoff_max_s=5.0)
        picture = engine.read_frame(DEMO_PICTURE)
        answers, failures = [], []

        def ask():
            try:
                answers.append(engine.analyze_frame(picture, QUESTIONS[1]).text)
            except Exception as error:  # noqa: BLE001 - the test reports it
                failures.append(error)

        with caplog.at_level(logging.WARNING, logger="trio.openai"):
            threads = [threading.Thread(target=ask) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert not failures and answers == ["yes"] * 4
        busy = [record.getMessage() for record in caplog.records if "answered 429" in record.getMessage()]
        assert busy and all("left out for 2.0 s" in message for message in busy)  # the server's Retry-After: 2
        engine.close()
        # At most one request at a time from here: nothing piles onto the server, so nothing is refused.
        caplog.clear()
        one_at_a_time = remote(url + "/v1", max_concurrency=1)
        with caplog.at_level(logging.WARNING, logger="trio.openai"):
            threads = [threading.Thread(target=lambda: one_at_a_time.analyze_frame(picture, QUESTIONS[1]))
                       for _ in range(4)]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert not [record for record in caplog.records if "429" in record.getMessage()]
        one_at_a_time.close()


def test_a_watch_survives_its_server_going_away_and_resumes_when_it_is_back(tmp_path):
    from tests.media import write_clip
    from trio_core.testing import free_port
    from trio_model_tiny.watch_bench import demo_frames

    clip = write_clip(tmp_path / "long.mp4", demo_frames() * 30, fps=4)  # 60 s of the moving square
    port = free_port()
    events = []
    with running_server("--model", "trio-tiny", port=port) as (url, server):
        engine = remote(url + "/v1", fps=2)
        watch = engine.watch(str(clip), [ORANGE], realtime=True, fps=2, name="yard")

        def run():
            for event in watch:
                events.append(event)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_for(lambda: sum(e.type == "result" for e in events) >= 2)
        server.kill()
        server.wait()
        wait_for(lambda: any(e.type == "backend_unavailable" for e in events))
    with running_server("--model", "trio-tiny", port=port):
        wait_for(lambda: any(e.type == "backend_restored" for e in events), timeout=60)
        results_before = sum(e.type == "result" for e in events)
        wait_for(lambda: sum(e.type == "result" for e in events) > results_before)
        watch.stop()
        thread.join(timeout=30)
    engine.close()
    kinds = [e.type for e in events]
    assert kinds.count("backend_unavailable") == 1 and kinds.count("backend_restored") == 1
    assert "ended" in kinds and not any(e.type == "error" for e in events)
    restored = next(e for e in events if e.type == "backend_restored")
    assert restored.details["frames_unanswered"] >= 1 and restored.details["outage_s"] > 0
    unavailable = next(e for e in events if e.type == "backend_unavailable")
    assert "connection refused" in unavailable.details["message"]


def test_trio_serve_is_a_gateway_to_another_server(trio_server):
    import httpx

    upstream, _ = trio_server
    with running_server("--model", "trio-tiny", "--endpoint", upstream) as (gateway, _):
        cards = httpx.get(gateway + "/v1/models").json()["data"]
        assert cards[0]["id"] == "trio-tiny"
        body = {"model": "trio-tiny", "max_tokens": 4, "logprobs": True, "top_logprobs": 2,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png()}},
                    {"type": "text", "text": QUESTIONS[1]}]}]}  # fmt: skip
        reply = httpx.post(gateway + "/v1/chat/completions", json=body, timeout=60).json()
        assert reply["choices"][0]["message"]["content"] == "yes"
        assert reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]  # passed through from upstream


def test_an_outage_of_every_endpoint_is_a_backend_unavailable_error(trio_server):
    with running_server("--model", "trio-tiny") as (url, server):
        engine = remote(url + "/v1")
        server.kill()
        server.wait()
        with pytest.raises(BackendUnavailableError, match="nothing is listening"):
            engine.analyze_video(DEMO_PICTURE, QUESTIONS[1])
        engine.close()


def png() -> str:
    import base64

    return base64.b64encode(Path(DEMO_PICTURE).read_bytes()).decode()


def wait_for(condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_a_sliding_window_sends_each_frame_once(trio_server):
    from trio_core.frames import synthetic_frames

    url, _ = trio_server
    engine, plain = remote(url), remote(url, media_ids="off")
    local = TrioCore(model="trio-tiny", dedup_threshold=0).load()
    try:
        frames = synthetic_frames(6, 224)
        sent, sent_plain = [], []
        for start in range(3):  # windows of 4 frames, one new frame each time
            window = frames[start : start + 4]
            ours = engine.analyze_video(window, QUESTIONS[1], yes_no=True)
            theirs = plain.analyze_video(window, QUESTIONS[1], yes_no=True)
            assert ours.text == theirs.text == local.analyze_video(window, QUESTIONS[1]).text
            sent.append(ours.metrics.sent_bytes)
            sent_plain.append(theirs.metrics.sent_bytes)
        # The first window carries 4 frames' bytes, the next ones 1 each (and 3 ids).
        assert sent[0] > 0.9 * sent_plain[0]
        assert all(later < 0.4 * plain_later for later, plain_later in zip(sent[1:], sent_plain[1:], strict=True))
    finally:
        engine.close()
        plain.close()
        local.close()
