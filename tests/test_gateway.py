"""Gateway settings as people read them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sluicegate.gateway import RateLimitRule, plain


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (30, "30"),
        (30.0, "30"),
        (1e12, "1000000000000"),
        (0.00001, "0.00001"),
        (4.0000000000000007e-06, "0.000004"),
        (0.1 + 0.2, "0.3"),
        (2.5, "2.5"),
        (0.0, "0"),
        (1234.5678, "1234.5678"),
    ],
)
def test_plain_numbers_have_no_exponent(value: float, text: str) -> None:
    assert plain(value) == text


def _plain_by_decimal(value: float) -> str:
    """`plain` as it was written first, always through Decimal: what the faster one must equal."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(Decimal(f"{value:.10g}"), "f")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_plain_numbers_are_what_decimal_makes_of_them(value: float) -> None:
    assert plain(value) == _plain_by_decimal(value)


def test_a_rule_without_a_name_is_labelled_in_plain_figures() -> None:
    rule = RateLimitRule(limit=0.00001, period=86400, unit="cost")
    assert rule.label == "0.00001 USD per 86400 s (fixed, per gateway)"


def test_a_misspelt_metadata_scope_suggests_the_field_once() -> None:
    cases = {
        "metdata.user": "metadata.user",  # was 'metadata.metdata.user'
        "meta.team": "metadata.team",
        "Metadata.user": "metadata.user",
        "user": "metadata.user",
        "user.id": "metadata.user.id",  # a dotted field whose head is no misspelt "metadata"
    }
    for scope, meant in cases.items():
        with pytest.raises(ValidationError) as refused:
            RateLimitRule(limit=1, period=60, scope=scope)
        assert f"did you mean '{meant}' (a counter per value" in str(refused.value), scope
