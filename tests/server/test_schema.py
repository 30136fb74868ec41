"""Schemathesis against a real server's /openapi.json: no generated request gets a 5xx."""

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.server.conftest import DEMO, running_server

EXAMPLES = 25  # per operation


def test_no_generated_request_gets_a_5xx():
    # A two-token answer budget keeps each generated request quick; watches get no slot.
    env = {"TRIO_MAX_WATCHES": "0", "TRIO_REQUEST_MAX_TOKENS": "2", "TRIO_MAX_TOKENS": "2"}
    with running_server("--model", "trio-tiny", "--media-root", str(DEMO), env=env) as (url, process):
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 12
        for operation in operations:

            @given(operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                response = case.call(timeout=60)
                case.validate_response(response, checks=[not_a_server_error])

            check()
        assert process.poll() is None  # still serving
        metrics = httpx.get(url + "/metrics").text.splitlines()
        counts = [line for line in metrics if line.startswith("trio_requests_total{")]
        served = sum(float(line.split()[-1]) for line in counts)
        # No 5xx anywhere, but /healthz's 503 while the model loaded (the fixture polled it).
        healthz = 'trio_requests_total{route="/healthz"'
        faults = [line for line in counts if 'status="5' in line and not line.startswith(healthz)]
        assert served >= 5 * len(operations) and not faults, faults
