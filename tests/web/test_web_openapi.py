"""Property-based run of schemathesis against /openapi.json: no generated request, valid or not,
makes the API answer 5xx, every answer matches the schema, and valid requests are accepted.
Bounded and deterministic: a fixed number of examples per operation, derandomized, no example
database.

Not checked: that every schema-violating request is refused. Unknown query parameters are
ignored on purpose, and the caller's Authorization header is always sent, so schemathesis'
"drop the required header" mutations cannot happen here (401s are tested directly)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import negative_data_rejection  # type: ignore[attr-defined]
from schemathesis.generation import GenerationMode
from web_helpers import ADMIN, ALICE

from underway import Underway

EXAMPLES_PER_OPERATION = 25


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("caller", [ADMIN, ALICE], ids=["admin", "owner"])
def test_no_generated_request_makes_the_api_fail(
    web: Any, jobs: Underway, caller: dict[str, str], mode: GenerationMode
) -> None:
    jobs.dispatch("demo.echo", owner="alice")  # so that lists are not all empty
    schema = schemathesis.openapi.from_asgi("/openapi.json", web)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=caller, excluded_checks=[negative_data_rejection])

        try:
            check()
        except Unsatisfiable:
            # No request to this operation can violate its schema (it takes no input).
            assert mode == GenerationMode.NEGATIVE, operation.label
