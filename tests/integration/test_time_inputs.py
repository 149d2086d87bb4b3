"""Times and durations a client gives the admin APIs: a token's expiry, a log query's range. One in
the wrong unit (JavaScript's `Date.now()` is milliseconds), a duration sent as a time, or a number
beyond any date is a 400 naming the field and what was probably meant, never stored (those stored
before: test_stored_times.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import FakeClock, RunningGateway

TOKENS = "/api/v1/accounts/local/tokens"
NOW = 1_800_000_000.0  # the gateway's clock (2027-01-15T08:00:00Z)


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway(clock=FakeClock(NOW))


def create(gw: RunningGateway, **expiry: Any) -> httpx.Response:
    return gw.http.post(TOKENS, json={"name": "t", "scopes": ["run"], **expiry})


def refusal(response: httpx.Response, field: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field
    message: str = error["message"]
    assert message.startswith(f"{field}: ")
    return message


def test_an_expiry_in_milliseconds_is_refused_with_the_seconds_meant(gw: RunningGateway) -> None:
    message = refusal(create(gw, expires_at=NOW * 1000 + 500), "expires_at")
    assert "more than 100 years ahead" in message
    assert "it looks like milliseconds: did you mean 1800000000.5 (seconds)?" in message
    nanoseconds = refusal(create(gw, expires_at=NOW * 1e9), "expires_at")
    assert "did you mean 1800000000 (seconds)?" in nanoseconds
    assert len(gw.http.get(TOKENS).json()["result"]) == 1  # the bootstrap token alone


def test_an_expiry_already_past_names_the_duration_it_probably_was(gw: RunningGateway) -> None:
    for seconds in (5, 86400):
        message = refusal(create(gw, expires_at=seconds), "expires_at")
        assert "is already past (1970-01-0" in message
        assert message.endswith(f"did you mean expires_in: {seconds} (seconds from now)?")
    stale = refusal(create(gw, expires_at=NOW - 3600), "expires_at")
    assert "expires_at: 1799996400 is already past (2027-01-15T07:00:00Z)" in stale
    assert "did you mean" not in stale  # an hour ago is no duration


@pytest.mark.parametrize("body", [{"expires_in": 1e300}, {"expires_at": 1e300}, {"expires_at": 1e22}])
def test_an_expiry_beyond_100_years_is_refused(gw: RunningGateway, body: dict[str, float]) -> None:
    (field,) = body
    message = refusal(create(gw, **body), field)
    assert "more than 100 years" in message
    assert message.endswith("; a token that should not expire is given no expires_at or expires_in")


def test_a_duration_in_milliseconds_or_a_time_as_a_duration_is_named(gw: RunningGateway) -> None:
    as_time = refusal(create(gw, expires_in=(NOW + 86400) * 1000), "expires_in")
    assert as_time.endswith("it looks like a time in milliseconds: did you mean expires_at: 1800086400?")
    a_year = 365 * 86400
    as_span = refusal(create(gw, expires_in=a_year * 1000), "expires_in")
    assert as_span.endswith(f"it looks like milliseconds: did you mean {a_year} (seconds)?")


def test_both_kinds_of_expiry_at_once_are_refused(gw: RunningGateway) -> None:
    message = refusal(create(gw, expires_at=NOW + 60, expires_in=60), "expires_at")
    assert message == (
        "expires_at: sent with expires_in; send one, expires_at (a time, epoch seconds) or expires_in"
        " (seconds from now)"
    )


def test_an_expiry_in_range_is_kept(gw: RunningGateway) -> None:
    assert create(gw, expires_in=86400).json()["expires_at"] == NOW + 86400
    assert create(gw, expires_at=NOW + 99 * 365 * 86400).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/local/gateways/default/logs",
        "/api/v1/accounts/local/logs",
        "/api/v1/accounts/local/gateways/default/logs/export",
        "/api/v1/accounts/local/analytics",
    ],
)
def test_a_log_range_in_milliseconds_is_refused_with_the_seconds_meant(gw: RunningGateway, path: str) -> None:
    response = gw.http.get(path, params={"from": "1799996400000"})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "from"
    assert error["message"].endswith("it looks like milliseconds: did you mean from=1799996400?")


def test_a_cloudflare_log_range_in_milliseconds_is_refused(gw: RunningGateway) -> None:
    logs = "/client/v4/accounts/local/ai-gateway/gateways/default/logs"
    flat = gw.http.get(logs, params={"start_date": "1799996400000"})
    filtered = gw.http.get(
        logs,
        params={"filters": json.dumps([{"key": "created_at", "operator": "gt", "value": [1799996400000]}])},
    )
    for response in (flat, filtered):
        assert response.status_code == 400, response.text
        assert "did you mean" in response.json()["errors"][0]["message"]
        assert "=1799996400?" in response.json()["errors"][0]["message"]
