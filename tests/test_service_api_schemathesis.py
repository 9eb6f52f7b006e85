"""schemathesis against the live control API: generated requests (valid and not) for every
documented operation, each with a token of a role the operation allows. No answer may be a
5xx, and every answer must match the document (status, content type, schema, headers).

Schema-valid requests may still be refused: a symbol this service does not trade, a limit
key `RiskLimits` does not have, a transition the state does not allow. So the check that
every schema-valid request is accepted (`positive_data_acceptance`) is left out; the
negative mode still checks that schema-invalid requests are refused.

Driven through `APIOperation.as_strategy` (schemathesis' pytest plugin does not run under
pytest 9); bounded: a few dozen examples per operation and mode, well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api_support import TOKENS, LiveService, live_service
from tests.service_support import Venue, start_venue
from tests.service_support import settings as service_settings

pytestmark = pytest.mark.slow
EXAMPLES = 40


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.fixture(scope="module")
def live(venue: Venue) -> Iterator[LiveService]:
    yield from live_service(service_settings(venue, decision_interval_s=300.0))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_matches_the_document(live: LiveService, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    results = list(schema.get_all_operations())
    bad = [r.err() for r in results if isinstance(r, Err)]
    assert not bad, f"schemathesis cannot read the document: {bad}"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 15  # it may leave out the document's own /openapi.json
    calls: dict[str, int] = {}
    if mode is GenerationMode.NEGATIVE:  # only a body can be made schema-invalid here
        operations = [op for op in operations if op.body]
    for operation in operations:
        fuzz(operation, mode, calls)
    assert set(calls) == {op.label for op in operations}


def fuzz(operation: Any, mode: GenerationMode, calls: dict[str, int]) -> None:
    """`EXAMPLES` generated requests to `operation`, with a token of a role it allows."""
    roles = operation.definition.raw.get("x-roles")
    headers = {"Authorization": f"Bearer {TOKENS[roles[0]]}"} if roles else None

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        calls[operation.label] = calls.get(operation.label, 0) + 1

    check()
