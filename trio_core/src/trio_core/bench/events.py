"""``trio bench events``: what keeping and delivering an alert costs, on real components on loopback.

No model runs: alerts are written the way a watch writes them (:meth:`EventStore.record_alert`,
a JPEG snapshot of a camera-sized frame, the sinks' deliveries in the same transaction) and
delivered by the real sink workers to a real Mosquitto broker (when installed), a webhook
receiver and Apprise's ``json://`` (when installed).

- the event store's write cost per alert (p50/p95), the part of an alert a watch waits for;
- alert-to-delivery latency per sink (p50/p95), one alert at a time, from the moment the
  watch could emit it to its arrival at the receiver;
- a storm: ``--storm`` alerts raised while the broker is down, then the broker back: whether
  every one arrives, in order, and how long the outbox takes to empty.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from .harness import percentile


def _frame(width: int = 640, height: int = 360) -> np.ndarray:
    """A camera-like frame (smooth gradients and some noise: a JPEG of realistic size)."""
    rows, cols = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    image = np.stack([cols * 255 // width, rows * 255 // height, (rows + cols) % 256], axis=-1)
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def _alert(number: int) -> dict:
    return {"type": "alert", "watch": "bench", "t": None, "pts": number * 0.5, "condition": "person",
            "answer": "yes", "probability": 0.9, "question": "Is there a person?"}  # fmt: skip


def measure_events(*, alerts: int, storm: int, outage_s: float) -> dict:
    from ..frames import jpeg_bytes
    from ..sinks.apprise import _implementation
    from ..testing.loopback import Mosquitto, WebhookReceiver
    from ..watch.alerts import Alerts
    from ..watch.event_store import EventStore

    snapshot = jpeg_bytes(_frame())
    report: dict = {"alerts": alerts, "snapshot_bytes": len(snapshot), "sinks": {}}
    with tempfile.TemporaryDirectory(prefix="trio-bench-events-") as folder:
        folder = Path(folder)
        store = EventStore(folder / "events")
        writes = []
        for number in range(alerts):
            started = time.perf_counter()
            store.record_alert(_alert(number), source="bench", question=None, snapshot=snapshot, sinks=[])
            writes.append((time.perf_counter() - started) * 1000)
        report["write_ms"] = {"p50": percentile(writes, 0.5), "p95": percentile(writes, 0.95)}

        broker = None
        try:
            broker = Mosquitto(folder / "mqtt").start()
        except Exception as error:  # no broker here: the other sinks are still measured
            report["sinks"]["mqtt"] = {"skipped": str(error)}
        receiver = WebhookReceiver()
        try:
            if broker is not None:
                report["sinks"]["mqtt"] = _mqtt_latency(store, broker, alerts, snapshot)
                quick = Mosquitto(folder / "mqtt-nodelay", nodelay=True).start()
                try:
                    report["sinks"]["mqtt, broker nodelay"] = _mqtt_latency(store, quick, alerts, snapshot)
                finally:
                    quick.stop()
            report["sinks"]["webhook"] = _latency(
                Alerts(store), f"{receiver.url}/hook", alerts, snapshot, lambda: list(receiver.arrivals)
            )
            if _implementation() is not None:  # Apprise installed
                receiver.arrivals.clear()
                url = receiver.url.replace("http://", "json://") + "/notify"
                report["sinks"]["apprise"] = _latency(
                    Alerts(store), url, alerts, snapshot, lambda: list(receiver.arrivals)
                )
            else:
                report["sinks"]["apprise"] = {"skipped": "Apprise is not installed (pip install 'trio-core[notify]')"}
            if broker is not None and storm:
                report["storm"] = _storm(store, broker, storm, outage_s, snapshot)
        finally:
            receiver.close()
            if broker is not None:
                broker.stop()
    return report


def _mqtt_latency(store, broker, count: int, snapshot: bytes) -> dict:
    from ..testing.loopback import Subscriber
    from ..watch.alerts import Alerts

    subscriber = Subscriber(broker.port, "trio/bench/person/event")
    try:
        arrivals = lambda: [message[3] for message in subscriber.messages]  # noqa: E731
        return _latency(Alerts(store), broker.url, count, snapshot, arrivals)
    finally:
        subscriber.close()


def _latency(alerts, url: str, count: int, snapshot: bytes, arrivals) -> dict:
    """One alert at a time: written, then timed until the receiver has it."""
    worker = alerts.sinks([url])[0]
    latencies = []
    try:
        for number in range(count):
            started = time.perf_counter()
            alerts.store.record_alert(_alert(number), source="bench", question=None, snapshot=snapshot,
                                      sinks=[worker.key])  # fmt: skip
            worker.wake()
            deadline = started + 30
            while len(arrivals()) <= number:
                if time.perf_counter() > deadline:
                    raise click.ClickException(f"{worker.label} received {number} of {count} alerts in time.")
                time.sleep(0.0005)
            latencies.append((arrivals()[number] - started) * 1000)
    finally:
        alerts.close()
    return {"p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95), "alerts": count}


def _storm(store, broker, count: int, outage_s: float, snapshot: bytes) -> dict:
    """``count`` alerts while the broker is down; then it is back, and every alert must arrive, in order."""
    from ..testing.loopback import Subscriber
    from ..watch.alerts import Alerts

    subscriber = Subscriber(broker.port, "trio/bench/person/event", lasting=True)
    alerts = Alerts(store)
    worker = alerts.sinks([broker.url])[0]
    broker.stop()
    ids = []
    started = time.perf_counter()
    for number in range(count):
        event = _alert(number)
        store.record_alert(event, source="bench", question=None, snapshot=snapshot, sinks=[worker.key])
        ids.append(event["event_id"])
        worker.wake()
    raised_s = time.perf_counter() - started
    time.sleep(max(0.0, outage_s - raised_s))
    broker.start()
    back = time.perf_counter()
    try:
        drained = alerts.drain(300)
        emptied_s = time.perf_counter() - back
        subscriber.wait_for(lambda messages: len({m[1] for m in messages}) >= count, timeout=60)
    finally:
        alerts.close()
        subscriber.close()
    arrived: list[int] = []
    for payload in (message[1] for message in subscriber.messages):
        event_id = json.loads(payload)["event_id"]
        if event_id not in arrived:  # at least once: a resend may repeat one
            arrived.append(event_id)
    return {
        "alerts": count,
        "outage_s": max(outage_s, raised_s),
        "delivered": len(arrived),
        "in_order": arrived == ids,
        "drained": drained,
        "seconds_after_back": emptied_s,
        "duplicates": len(subscriber.messages) - len(arrived),
    }


@click.command("events")
@click.option("--alerts", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Alerts written and delivered one at a time, per sink.")  # fmt: skip
@click.option("--storm", type=click.IntRange(0, 1_000_000), default=1000, show_default=True,
              help="Alerts raised during a broker outage (0: no storm).")  # fmt: skip
@click.option("--outage", "outage_s", type=click.FloatRange(0, 600), default=5.0, show_default=True,
              help="Seconds the broker stays down (at least as long as raising the storm takes).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def events_bench(alerts, storm, outage_s, as_json):
    """The event store's write cost per alert, alert-to-delivery latency per sink, and a storm through an outage."""
    report = measure_events(alerts=alerts, storm=storm, outage_s=outage_s)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    write = report["write_ms"]
    click.echo(f"event store: {alerts} alerts with a {report['snapshot_bytes'] / 1000:.0f} kB snapshot each: "
               f"write p50 {write['p50']:.2f} ms, p95 {write['p95']:.2f} ms")  # fmt: skip
    for name, figures in report["sinks"].items():
        if "skipped" in figures:
            click.echo(f"{name:>21}: not measured ({figures['skipped']})")
        else:
            click.echo(f"{name:>21}: alert to delivery p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms "
                       f"({figures['alerts']} alerts, one at a time)")  # fmt: skip
    if "storm" in report:
        storm_report = report["storm"]
        click.echo(
            f"storm: {storm_report['alerts']} alerts during a {storm_report['outage_s']:.1f} s broker outage: "
            f"{storm_report['delivered']} delivered, {'in order' if storm_report['in_order'] else 'OUT OF ORDER'}, "
            f"the outbox empty {storm_report['seconds_after_back']:.1f} s after the broker came back "
            f"({storm_report['duplicates']} duplicates)"
        )
