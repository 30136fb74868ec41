"""`trio bench watch`: the counts it reports (not its timings, which belong to the machine)."""

import json

from tests.cli import run_trio


def test_the_motion_gate_skips_most_of_static_footage_and_misses_no_event():
    result = run_trio("bench", "watch", "--only", "gate", "--json", check=True)
    gate = json.loads(result.stdout)["gate"]
    assert gate["skipped_share"] >= 0.8 and gate["missed"] == 0
    assert gate["no filter"]["caught"] == gate["no filter"]["events"] == 3  # the model sees every event unfiltered
    assert gate["motion gate"]["false_alerts"] == 0
