"""``trio bench serve``: the same questions through HTTP and through the SDK, on one loaded model, in one run."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import statistics
import threading
import time

import click

from ..testing import free_port
from .harness import percentile, snapshot


@click.command("serve")
@click.option("--model", default="trio-tiny", show_default=True, help="Model to serve (hub id, local folder, name).")
@click.option("--requests", "count", type=click.IntRange(2, 10_000), default=30, show_default=True)
@click.option("--clients", type=click.IntRange(1, 256), default=8, show_default=True, help="For the saturation run.")
@click.option("--queue-size", type=click.IntRange(0, 10_000), default=2, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=8, show_default=True)
@click.option("--size", type=click.IntRange(28, 1344), default=448, show_default=True, help="Snapshot side in pixels.")
@click.option("--json", "as_json", is_flag=True)
def serve_bench(model, count, clients, queue_size, max_tokens, size, as_json):
    """HTTP (/analyze-frame) vs direct SDK calls on one model: latency ratio at one client, then saturation."""
    report = measure(model, count=count, clients=clients, queue_size=queue_size, max_tokens=max_tokens, size=size)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    one, load = report["one_client"], report["saturation"]
    click.echo(
        f"model {report['model']} on {report['device']}: {size}x{size} JPEG snapshot, {max_tokens} new tokens at most\n"
        f"one client, {count} paired rounds: SDK p50 {one['sdk_p50_ms']:.1f} ms | HTTP p50 {one['http_p50_ms']:.1f} ms | "
        f"HTTP p95 {one['http_p95_ms']:.1f} ms | overhead {one['overhead']:.3f}x (median of per-round HTTP/SDK)\n"
        f"{load['clients']} clients, queue {load['queue_size']}: {load['answered']} answered, {load['rejected']} got 429, "
        f"{load['errors']} other errors | {load['throughput_per_s']:.2f} answers/s | p50 {load['p50_ms']:.1f} ms | "
        f"p95 {load['p95_ms']:.1f} ms | /healthz while saturated: {load['healthz_ms']:.1f} ms"
    )


def measure(model: str, *, count: int, clients: int, queue_size: int, max_tokens: int, size: int) -> dict:
    import httpx
    import uvicorn
    from PIL import Image

    from ..sdk import TrioCore
    from ..server import create_app
    from ..server.settings import ServerSettings

    engine = TrioCore(model=model, max_tokens=max_tokens).load()
    app = create_app(engine.config, ServerSettings(queue_size=queue_size), engine=engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    picture = snapshot(size)
    body = {"frame_b64": base64.b64encode(picture).decode(), "question": "Is there a red square?"}
    try:
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=600) as client:

            def http_call() -> float:
                start = time.perf_counter()
                client.post("/analyze-frame", json=body).raise_for_status()
                return (time.perf_counter() - start) * 1000

            def sdk_call() -> float:  # what the endpoint does: decode the JPEG, ask with yes/no scoring
                start = time.perf_counter()
                engine.analyze_frame(Image.open(io.BytesIO(picture)).convert("RGB"), body["question"], yes_no=True)
                return (time.perf_counter() - start) * 1000

            http_call(), sdk_call()  # warm-up
            sdk, http, ratios = [], [], []
            for round_index in range(count):
                first, second = (sdk_call, http_call) if round_index % 2 == 0 else (http_call, sdk_call)
                a, b = first(), second()
                s, h = (a, b) if first is sdk_call else (b, a)
                sdk.append(s)
                http.append(h)
                ratios.append(h / s)
            saturation = saturate(url, body, clients=clients, per_client=max(2, count // clients))
        return {
            "model": model,
            "device": engine.model.device,
            "max_tokens": max_tokens,
            "size": size,
            "one_client": {
                "rounds": count,
                "sdk_p50_ms": statistics.median(sdk),
                "http_p50_ms": statistics.median(http),
                "sdk_p95_ms": percentile(sdk, 0.95),
                "http_p95_ms": percentile(http, 0.95),
                "overhead": statistics.median(ratios),
                "rounds_sdk_ms": sdk,
                "rounds_http_ms": http,
            },
            "saturation": {**saturation, "clients": clients, "queue_size": queue_size},
        }
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.close()


def saturate(url: str, body: dict, *, clients: int, per_client: int) -> dict:
    """``clients`` threads each sending ``per_client`` requests at once; counts, throughput, latency, /healthz."""
    import httpx

    def client_run(_) -> list[tuple[int, float]]:
        outcomes = []
        with httpx.Client(base_url=url, timeout=600) as client:
            for _ in range(per_client):
                start = time.perf_counter()
                status = client.post("/analyze-frame", json=body).status_code
                outcomes.append((status, (time.perf_counter() - start) * 1000))
        return outcomes

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients + 1) as pool:
        runs = [pool.submit(client_run, index) for index in range(clients)]
        time.sleep(0.2)
        probe = time.perf_counter()
        healthy = httpx.get(url + "/healthz", timeout=30).status_code == 200
        healthz_ms = (time.perf_counter() - probe) * 1000
        outcomes = [outcome for run in runs for outcome in run.result()]
    elapsed = time.perf_counter() - started
    answered = [ms for status, ms in outcomes if status == 200]
    return {
        "answered": len(answered),
        "rejected": sum(status == 429 for status, _ in outcomes),
        "errors": sum(status not in (200, 429) for status, _ in outcomes),
        "throughput_per_s": len(answered) / elapsed,
        "p50_ms": percentile(answered, 0.5),
        "p95_ms": percentile(answered, 0.95),
        "healthz_ok": healthy,
        "healthz_ms": healthz_ms,
    }
