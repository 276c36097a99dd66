"""Property-based test of the whole HTTP API: schemathesis generates requests for every operation from the
OpenAPI document and checks that none gets a 5xx and every response matches its documented schema.

The app runs in-process (ASGI) with a constant scorer: the subject is the service around scoring, and
real networks would make the thousands of cases take hours. Searches are kept tiny for the same reason.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from scoring import cost_for
from searchspace import get_space, list_spaces
from helpers import fake_app

#: generated cases per operation; 12 operations -> at least 2,000 cases in all
CASES_PER_OPERATION = 180
MIN_TOTAL_CASES = 2000

_folder = Path(tempfile.mkdtemp(prefix="naswot-properties-"))
APP = fake_app(_folder, max_budget=20, max_top_k=20, max_running_jobs=1, max_queued_jobs=20, max_batch_size=16, max_archs=16, queue_size=64)
calls: Counter[str] = Counter()


async def without_lifespan(scope, receive, send):
    """The app as schemathesis sees it: no lifespan of its own (it would restart it per operation); the fixture runs the service once."""
    if scope["type"] == "lifespan":
        raise RuntimeError("lifespan is run by the test module")
    await APP(scope, receive, send)


schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan)


@pytest.fixture(scope="module", autouse=True)
def running_service():
    """The service's workers and job threads for the whole module, ready (the worker's start-up measurement done, the
    default data loaded) before the first case, so ``/readyz`` answers 200; the count of cases checked at the end."""
    APP.state.service.start()
    wait_until_ready(APP.state.service)
    warm_costs(APP.state.service)
    yield
    APP.state.service.stop()
    total = sum(calls.values())
    print(f"\nschemathesis: {total} cases over {len(calls)} operations: {dict(calls)}")
    assert len(calls) == len(list(schema.get_all_operations())), f"operations exercised: {sorted(calls)}"
    assert total >= MIN_TOTAL_CASES, f"only {total} generated cases ran"


def wait_until_ready(service, timeout: float = 300.0) -> None:
    """Return once ``service`` says it is ready; fail naming its reasons after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (readiness := service.readiness())["ready"]:
        assert time.monotonic() < deadline, f"the service never became ready: {readiness['reasons']}"
        time.sleep(0.05)


def warm_costs(service) -> None:
    """Pay now the one-time cost tables (NB-201's per-edge terms: seconds on a busy CPU) that a first score request
    would pay when the service counts its work (NASWOT_MAX_REQUEST_GFLOP), as a real scorer would pay them anyway."""
    _name, source = service.sources.open(None)
    for name in list_spaces():
        space = get_space(name)
        cost_for(space, source, space.canonical(space.example), max(source.num_classes, 1))


@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx_or_breaks_its_documented_schema(case):
    calls[case.operation.label] += 1
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, status_code_conformance])
