"""Operations: health while loading, reload with rollback, saturation, metrics, logs."""

import concurrent.futures
import json
import statistics

import httpx
import pytest

from tests.server.conftest import app_client, data_url, png_b64, running_server
from trio_backend_torch.testing import build_checkpoint

ADMIN = "admin-key-9"


def test_a_model_that_fails_to_load_leaves_healthz_503_and_health_saying_why(tmp_path):
    from fastapi.testclient import TestClient

    from trio_core.config import EngineConfig
    from trio_core.server import create_app
    from trio_core.server.settings import ServerSettings

    app = create_app(EngineConfig(model=str(tmp_path / "nothing-here")), ServerSettings())
    with TestClient(app) as client:
        import time

        for _ in range(100):
            if client.get("/health").json()["status"] == "failed":
                break
            time.sleep(0.05)
        assert client.get("/healthz").status_code == 503
        health = client.get("/health").json()
        assert health["status"] == "failed" and health["error"]
        answer = client.post("/analyze-frame", json={"frame_b64": png_b64(), "question": "?"})
        assert answer.status_code == 503 and "not loaded" in answer.json()["error"]["message"]


def ask(client, headers=None):
    question = {"frame_b64": png_b64(), "question": "Is there a red circle?"}
    return client.post("/analyze-frame", json=question, headers=headers)


def test_reload_to_a_broken_path_rolls_back_and_a_good_one_switches(tmp_path):
    other = build_checkpoint("qwen2_vl", tmp_path / "other")
    with app_client(admin_keys=[ADMIN]) as client:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        failed = client.post("/v1/admin/reload", json={"model": str(tmp_path / "broken")}, headers=admin)
        assert failed.status_code == 422 and "still serving trio-tiny" in failed.json()["error"]["message"]
        assert ask(client, admin).json()["answer"] == "yes"  # the old model still answers
        assert client.get("/health", headers=admin).json()["model"] == "trio-tiny"
        assert client.post("/v1/admin/reload", json={"dtype": "int3"}, headers=admin).status_code == 400
        switched = client.post("/v1/admin/reload", json={"model": str(other)}, headers=admin)
        assert switched.status_code == 200
        health = client.get("/health", headers=admin).json()
        assert health["model"] == str(other) and health["family"] == "qwen2_vl" and health["status"] == "ready"
        assert ask(client, admin).status_code == 200


def test_beyond_the_queue_requests_get_429_and_every_admitted_one_is_answered():
    with app_client(queue_size=1) as client:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: ask(client), range(8)))
        codes = sorted(answer.status_code for answer in answers)
        assert set(codes) <= {200, 429} and 429 in codes and 200 in codes
        assert all(answer.json()["answer"] == "yes" for answer in answers if answer.status_code == 200)
        busy = next(answer for answer in answers if answer.status_code == 429)
        assert busy.headers["retry-after"] and busy.json()["error"]["type"] == "rate_limit_error"
        assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_tokens_and_latency(client):
    ask(client)
    text = client.get("/metrics").text
    assert 'trio_requests_total{route="/analyze-frame",status="200"}' in text
    for name in ("trio_inference_seconds_bucket", "trio_time_to_first_token_seconds_count", "trio_queue_depth",
                 'trio_tokens_total{kind="completion"}', "trio_active_watches", "trio_alerts_total"):  # fmt: skip
        assert name in text, name


def test_json_logs_carry_request_ids_and_never_the_keys():
    key = "secret-key-do-not-log"
    with running_server("--model", "trio-tiny", "--api-key", key, "--json-logs") as (url, process):
        httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-42"})
        httpx.get(url + "/v1/models", headers={"Authorization": "Bearer wrong-key"})
        process.terminate()
        process.wait(timeout=30)
        output = process.log.read_text()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "req-42" and line.get("status") == 200 for line in lines)
    assert any(line.get("status") == 401 for line in lines)
    assert key not in output and "wrong-key" not in output


@pytest.fixture(scope="module")
def client():
    with app_client() as client:
        yield client


def test_a_non_loopback_bind_without_a_key_is_refused_by_the_cli():
    from tests.cli import run_trio

    refused = run_trio("serve", "--model", "trio-tiny", "--host", "0.0.0.0")
    assert refused.returncode == 1 and "Refusing to serve 0.0.0.0 without an API key" in refused.stderr


def test_analyze_frame_decides_triggered_from_yes_and_no(client):
    yes = ask(client).json()
    assert yes["answer"] == "yes" and yes["triggered"] is True and yes["yes_probability"] > 0.5
    no = client.post("/analyze-frame", json={"frame_b64": png_b64(), "question": "Is there a purple triangle?"})
    assert no.json()["triggered"] is False
    other = client.post("/analyze-frame", json={"frame_b64": data_url(), "question": "What colour is the circle?"})
    assert other.status_code == 200 and other.json()["triggered"] is None  # not a yes/no answer
    bad = client.post("/analyze-frame", json={"frame_b64": "not base64!", "question": "?"})
    assert bad.status_code == 400 and "base64" in bad.json()["error"]["message"]


def test_bench_serve_compares_http_with_the_sdk_in_one_run():
    from trio_core.bench.serve import measure

    report = measure("trio-tiny", count=4, clients=4, queue_size=1, max_tokens=2, size=112)
    one, load = report["one_client"], report["saturation"]
    assert one["rounds"] == len(one["rounds_sdk_ms"]) == len(one["rounds_http_ms"]) == 4
    pairs = zip(one["rounds_http_ms"], one["rounds_sdk_ms"], strict=True)
    assert one["overhead"] == statistics.median(http / sdk for http, sdk in pairs)
    assert one["sdk_p50_ms"] == statistics.median(one["rounds_sdk_ms"])
    assert load["answered"] >= 1 and load["errors"] == 0 and load["healthz_ok"]
    assert load["answered"] + load["rejected"] == 4 * 2


def test_a_request_past_the_timeout_gets_504_and_the_server_goes_on():
    with app_client(request_timeout_s=0.001) as client:
        late = ask(client)
        assert late.status_code == 504 and late.json()["error"]["type"] == "timeout_error"
        assert client.get("/healthz").status_code == 200
