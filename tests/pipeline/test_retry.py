"""Retry arithmetic: backoff growth and jitter, Retry-After parsing, header precedence."""

from __future__ import annotations

import email.utils
import time

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import BadRequest
from sluicegate.exchange import RetryPolicy
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.retry import backoff_delay, is_retryable, retry_after
from sluicegate.pipeline.retry_headers import policy_from_headers
from sluicegate.types import Backoff


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        (Backoff.CONSTANT, [0.2, 0.2, 0.2, 0.2]),
        (Backoff.LINEAR, [0.2, 0.4, 0.6, 0.8]),
        (Backoff.EXPONENTIAL, [0.2, 0.4, 0.8, 1.6]),
    ],
)
def test_backoff_growth_without_jitter(backoff: Backoff, expected: list[float]) -> None:
    policy = RetryPolicy(max_attempts=5, delay_ms=200, backoff=backoff)
    assert [backoff_delay(policy, retry, jitter=0) for retry in (1, 2, 3, 4)] == pytest.approx(expected)


def test_jitter_stays_within_a_quarter() -> None:
    policy = RetryPolicy(delay_ms=1000)
    assert backoff_delay(policy, 1, jitter=-1) == pytest.approx(0.75)
    assert backoff_delay(policy, 1, jitter=1) == pytest.approx(1.25)


def test_what_is_retryable() -> None:
    assert [s for s in (200, 301, 400, 401, 404, 409, 429, 500, 502, 503, 504) if is_retryable(s)] == [
        429, 500, 502, 503, 504,
    ]  # fmt: skip


def test_retry_after_forms() -> None:
    assert retry_after(CIMultiDict({"Retry-After": "3"})) == 3
    assert retry_after(CIMultiDict({"Retry-After": "1", "retry-after-ms": "250"})) == 0.25
    in_ten_seconds = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= (retry_after(CIMultiDict({"Retry-After": in_ten_seconds})) or 0) <= 10
    assert retry_after(CIMultiDict({"Retry-After": "soon"})) is None
    assert retry_after(CIMultiDict()) is None


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


def test_headers_override_gateway_defaults() -> None:
    settings = GatewaySettings(
        max_attempts=2, retry_delay_ms=300, backoff=Backoff.LINEAR, request_timeout_ms=5000
    )
    assert policy_from_headers(headers(), settings) == RetryPolicy(2, 300, Backoff.LINEAR, 5000)
    policy = policy_from_headers(headers(cf_aig_max_attempts="4", cf_aig_backoff="Exponential"), settings)
    assert policy == RetryPolicy(4, 300, Backoff.EXPONENTIAL, 5000)


def test_bad_header_names_itself() -> None:
    with pytest.raises(BadRequest) as caught:
        policy_from_headers(headers(cf_aig_retry_delay="-5"), GatewaySettings())
    assert caught.value.details == {"header": "cf-aig-retry-delay"}


def test_numbers_past_the_documented_range_are_taken_into_it_and_said() -> None:
    said: list[str] = []
    asked = headers(cf_aig_max_attempts="10", cf_aig_retry_delay="0006000", cf_aig_request_timeout="50")
    assert policy_from_headers(asked, GatewaySettings(), said) == RetryPolicy(5, 5000, Backoff.CONSTANT, 50)
    assert said == [
        "cf-aig-max-attempts is above the maximum of 5 attempts; 5 is used",
        "cf-aig-retry-delay is above the maximum of 5000 ms; 5000 is used",
    ]
    assert policy_from_headers(headers(cf_aig_max_attempts="0"), GatewaySettings()).max_attempts == 1
