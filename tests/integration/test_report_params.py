"""The admin API's routes that take query parameters, through a gateway on loopback: one a route
does not take is a 400 naming it and the one probably meant, never an answer as if it were absent
(for the analytics, the semantic what-if and the spend report: the whole account's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT = "/api/v1/accounts/local"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def refusal(response: Any, param: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    return str(error["message"])


@pytest.mark.parametrize(
    ("method", "path", "params", "param", "said"),
    [
        ("GET", "/analytics", {"gatway": "bulk"}, "gatway", "did you mean 'gateway'?"),
        ("GET", "/analytics", {"modle": "gpt-4o"}, "modle", "did you mean 'model'?"),
        ("GET", "/analytics", {"gateways": "bulk"}, "gateways", "did you mean 'gateway'?"),
        ("GET", "/analytics", {"since": "0"}, "since", "did you mean 'from'?"),
        ("GET", "/analytics/semantic", {"gatway": "x"}, "gatway", "did you mean 'gateway'?"),
        ("GET", "/analytics/semantic", {"provider": "openai"}, "provider", "known: from, gateway, to"),
        ("GET", "/spend", {"bi": "user"}, "bi", "known: by, gateway, interval, key, limit, since, until"),
        ("GET", "/spend", {"from": "0"}, "from", "did you mean 'since'?"),
        ("GET", "/spend", {"group_by": "user"}, "group_by", "did you mean 'by'?"),
        ("DELETE", "/gateways/default/cache", {"kye": "x"}, "kye", "did you mean 'key'?"),
        ("GET", "/audit", {"limt": "5"}, "limt", "did you mean 'limit'?"),
    ],
)
def test_a_parameter_a_route_does_not_take_is_a_400_naming_the_one_meant(
    gw: RunningGateway, method: str, path: str, params: dict[str, str], param: str, said: str
) -> None:
    message = refusal(gw.http.request(method, ACCOUNT + path, params=params), param)
    assert message == f"unknown parameter {param!r}; {said}"


def test_every_parameter_a_route_takes_is_taken_and_one_more_refused(gw: RunningGateway) -> None:
    now = time.time()
    analytics: dict[str, Any] = {"from": now - 3600, "to": now, "interval": "minute", "gateway": "default"}
    taken: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/analytics", {**analytics, "provider": "openai", "model": "m", "by": "route"}),
        ("GET", "/analytics/semantic", {"from": now - 3600, "to": now, "gateway": "default"}),
        (
            "GET",
            "/spend",
            {"by": "user", "since": "1h", "until": now, "gateway": "default", "key": "u", "limit": 5},
        ),
        ("DELETE", "/gateways/default/cache", {"key": "k"}),
        ("GET", "/audit", {"limit": 5}),
    ]
    for method, path, params in taken:
        answer = gw.http.request(method, ACCOUNT + path, params=params)
        assert answer.status_code == 200, (path, answer.text)
        refused = gw.http.request(method, ACCOUNT + path, params={**params, "cached": "true"})
        assert refusal(refused, "cached").startswith("unknown parameter 'cached'"), path
