"""`trio bench events`: the store's write cost, each sink's latency and a storm through an outage, measured."""

import json

from tests.cli import run_trio


def test_the_bench_measures_every_sink_and_a_storm_arrives_whole_and_in_order():
    result = run_trio("bench", "events", "--alerts", "10", "--storm", "200", "--outage", "1", "--json", check=True)
    report = json.loads(result.stdout)
    assert report["write_ms"]["p50"] > 0 and report["snapshot_bytes"] > 10_000
    for sink in ("mqtt", "mqtt, broker nodelay", "webhook", "apprise"):
        assert (
            report["sinks"][sink]["alerts"] == 10
            and report["sinks"][sink]["p95_ms"] >= report["sinks"][sink]["p50_ms"] > 0
        )
    storm = report["storm"]
    assert storm["delivered"] == 200 and storm["in_order"] and storm["drained"]
