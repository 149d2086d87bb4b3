"""Log conditions refused before any SQL is written (log_conditions_contract.py holds what each
backend selects with them)."""

from __future__ import annotations

import pytest

from sluicegate.storage.base import LogCondition
from sluicegate.storage.log_conditions import SQLITE, condition_clauses, order_clause


def test_a_condition_the_field_cannot_have_is_refused() -> None:
    for condition, why in (
        (LogCondition("cost_usd", "contains", ("1",)), "cost_usd is not text"),
        (LogCondition("success", "contains", ("t",)), "success is not text"),
        (LogCondition("tokens", "lt", (1, 2)), "compares with exactly one value"),
        (LogCondition("ts", "gt", (None,)), "compares with exactly one value"),
        (LogCondition("cost_usd", "eq", ("cheap",)), "could not convert"),
        (LogCondition("cached", "eq", ("yes",)), "cached is true or false"),
    ):
        with pytest.raises(ValueError, match=why):
            condition_clauses((condition,), SQLITE, [])
    with pytest.raises(ValueError, match="cannot be ordered by 'metadata_key'"):
        order_clause(("metadata_key", True), SQLITE)
