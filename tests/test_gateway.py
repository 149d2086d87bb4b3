"""Gateway settings as people read them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@given(st.floats(min_value=-1e20, max_value=1e20, allow_nan=False))
def test_plain_numbers_are_their_ten_significant_digits(value: float) -> None:
    text = plain(value)
    assert "e" not in text
    assert Decimal(text) == Decimal(f"{value:.10g}")


def test_a_rule_without_a_name_is_labelled_in_plain_figures() -> None:
    rule = RateLimitRule(limit=0.00001, period=86400, unit="cost")
    assert rule.label == "0.00001 USD per 86400 s (fixed, per gateway)"
