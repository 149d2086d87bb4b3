"""The circuit breaker (circuit_contract.py, run here on the in-process store), and its policy."""

from __future__ import annotations

import pytest

from sluicegate.routing.circuit import BreakerPolicy, counts_as_failure
from tests.routing.circuit_contract import *  # noqa: F403  (every contract test runs here)


def test_what_counts_as_a_failure() -> None:
    assert [counts_as_failure(s) for s in (None, 500, 503, 429, 400, 200)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="failures >= 1"):
        BreakerPolicy(failures=0)
