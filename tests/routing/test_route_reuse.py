"""Routes are parsed when they are new: a stored gateway's when a request names one, a change's
only where it differs from what is stored (a PUT of one route does not check the other 99)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.errors import RouteMisconfigured
from sluicegate.gateway import GatewaySettings
from sluicegate.routing import RouteInvalid, parse_routes

GOOD: dict[str, Any] = {"model": "openai/gpt-4o-mini"}
SPLIT: dict[str, Any] = {"split": [{"weight": 1, "then": {"model": "anthropic/claude-sonnet-4-6"}}]}
BAD: dict[str, Any] = {"model": "gpt-4o-mini"}  # no provider


def test_only_the_routes_that_differ_from_the_known_ones_are_parsed() -> None:
    known = {"cheap": GOOD, "split": SPLIT}
    parsed = parse_routes({"cheap": GOOD, "split": SPLIT, "new": GOOD}, known=known)
    assert list(parsed) == ["new"]
    # Equal in Python (`1.0 == 1`) but not as JSON: checked again.
    float_weight = {"split": [{"weight": 1.0, "then": {"model": "anthropic/claude-sonnet-4-6"}}]}
    assert list(parse_routes({"cheap": GOOD, "split": float_weight}, known=known)) == ["split"]
    with pytest.raises(RouteInvalid) as refused:
        parse_routes({"cheap": BAD, "split": SPLIT}, known=known)
    assert refused.value.problems[0].path == "routes.cheap.model"


def test_a_stored_route_is_parsed_when_it_is_asked_for_and_a_bad_one_spoils_only_itself() -> None:
    text = orjson.dumps({"routes": {"good": GOOD, "bad": BAD}})
    settings = GatewaySettings.model_validate_json(text, context={"stored": True})
    good = settings.route("good")
    assert good is not None
    assert good.starts == frozenset({"openai"})
    assert settings.route("good") is good
    assert settings.route("missing") is None
    with pytest.raises(RouteMisconfigured):  # the gateway's to fix: a 500, not the client's 400
        settings.route("bad")
    assert settings.route_errors()["bad"].startswith("routes.bad.model: ")
    with pytest.raises(RouteInvalid):  # a client's settings are checked whole, as before
        GatewaySettings.model_validate({"routes": {"good": GOOD, "bad": BAD}})


def test_a_copy_with_other_routes_does_not_answer_the_routes_parsed_before() -> None:
    settings = GatewaySettings(routes={"r": GOOD})
    assert settings.route("r") is not None
    copy = settings.model_copy(update={"routes": {"r": SPLIT}})
    route = copy.route("r")
    assert route is not None
    assert route.starts == frozenset({"anthropic"})
