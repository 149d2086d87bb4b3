"""A request the admin API (or the Cloudflare-style API) has no route for is answered as its other
errors are: a 405 names the methods the path takes, in the body and in `Allow`; a 404 names the
path probably meant when one fix (a slash, the plural, `-` for `_`, a missing `accounts/{account}`)
reaches a route."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway

GATEWAYS = "/api/v1/accounts/local/gateways"
HINT = "the admin API's routes are under /api/v1/accounts/{account}/"
CLOUDFLARE = "/client/v4/accounts/local/ai-gateway/gateways"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway()


@pytest.mark.parametrize(
    ("method", "path", "meant", "takes"),
    [
        ("GET", "/api/v1/accounts/local/gateway/default", f"{GATEWAYS}/default", ""),
        ("GET", "/api/v1/gateways", GATEWAYS, ""),
        ("GET", "/api/v1/local/gateways", GATEWAYS, ""),
        ("GET", f"{GATEWAYS}/", GATEWAYS, ""),
        ("GET", "/api/v1/whoami/", "/api/v1/whoami", ""),
        ("PUT", f"{GATEWAYS}/default/provider_keys/openai", f"{GATEWAYS}/default/provider-keys/openai", ""),
        ("DELETE", "/api/v1/accounts/local/gateway", GATEWAYS, " (it takes GET, HEAD, POST)"),
    ],
)
def test_a_path_near_a_route_is_a_404_naming_it(
    gw: RunningGateway, method: str, path: str, meant: str, takes: str
) -> None:
    response = gw.http.request(method, path)

    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"] == f"no route for {method} {path}; did you mean {meant}?{takes}"
    assert (error["did_you_mean"], error["hint"].startswith(HINT)) == (meant, True)
    assert gw.http.request(method, meant).status_code != 404 or method == "DELETE"


def test_a_path_near_no_route_is_a_404_with_the_way_to_the_routes(gw: RunningGateway) -> None:
    response = gw.http.get("/api/v1/nothing/like/it")

    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("not_found", "no route for GET /api/v1/nothing/like/it")
    assert "did_you_mean" not in error
    assert "/api/v1/openapi.json" in error["hint"]


def test_a_path_longer_than_any_route_is_not_searched(gw: RunningGateway) -> None:
    """The search runs before any token is checked: a path no route is near in length gets the
    plain 404 at once, however many segments it has to compare."""
    response = gw.http.get("/api/v1/gateways" + "/" * 400)

    assert response.status_code == 404
    assert "did_you_mean" not in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/whoami", ["GET", "HEAD"]),
        ("OPTIONS", "/api/v1/accounts/local/tokens", ["GET", "HEAD", "POST"]),
        ("POST", f"{GATEWAYS}/default", ["DELETE", "GET", "HEAD", "PATCH"]),
    ],
)
def test_a_method_a_path_does_not_take_is_a_405_naming_those_it_does(
    gw: RunningGateway, method: str, path: str, allowed: list[str]
) -> None:
    response = gw.http.request(method, path)

    assert response.status_code == 405, response.text
    assert response.headers["allow"] == ", ".join(allowed)
    error = response.json()["error"]
    assert (error["code"], error["allowed"]) == ("method_not_allowed", allowed)
    assert error["message"] == f"{method} is not allowed on {path}: it takes {', '.join(allowed)}"


def test_the_cloudflare_api_names_the_near_path_and_the_allowed_methods(gw: RunningGateway) -> None:
    near = gw.http.get(f"{CLOUDFLARE}/default/provider-configs")
    wrong = gw.http.delete(CLOUDFLARE)

    assert near.status_code == 404
    assert near.json()["errors"][0]["message"] == (
        f"no route for GET {CLOUDFLARE}/default/provider-configs;"
        f" did you mean {CLOUDFLARE}/default/provider_configs?"
    )
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")
    assert wrong.json()["errors"][0] == {
        "code": 7001,
        "message": f"DELETE is not allowed on {CLOUDFLARE}; allowed: GET, POST",
    }
