"""A stored route that does not parse: a 500 `route_misconfigured` naming only the route, its
problems logged once per stored settings text and kept, not parsed again on every request."""

from __future__ import annotations

import logging

import orjson
import pytest

from sluicegate.errors import RouteMisconfigured
from sluicegate.gateway import GatewaySettings
from sluicegate.routing import RouteInvalid
from sluicegate.routing.nodes import SplitNode
from sluicegate.storage.gateway_rows import GatewayRows

TEXT = orjson.dumps(
    {
        "routes": {
            "fast": {"model": "openai/gpt-4o-mini"},
            "broken": {"split": [{"weight": -1, "then": {"model": "openai/gpt-4o"}}]},
        }
    }
).decode()


def test_a_broken_stored_route_is_the_gateways_error_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    rows = GatewayRows()
    settings = rows.gateway_of(("local", "ops", "Ops", TEXT, 1.0, None, 1)).settings
    caplog.set_level(logging.WARNING, logger="sluicegate.gateway")

    for _ in range(3):
        with pytest.raises(RouteMisconfigured) as refused:
            settings.route("broken", "local/ops")
        assert refused.value.status == 500
        assert refused.value.code == "route_misconfigured"
        assert "'broken'" in refused.value.message
        assert "weight" not in refused.value.message
        assert "routes." not in refused.value.message
    fast = settings.route("fast", "local/ops")
    assert fast is not None

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "local/ops" in warnings[0]
    assert "'broken'" in warnings[0]
    assert "routes.broken.split[0].weight" in warnings[0]

    # The admin read lists it, from what was kept: no second warning.
    errors = settings.route_errors("local/ops")
    assert list(errors) == ["broken"]
    assert "routes.broken.split[0].weight" in errors["broken"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    # Read again unchanged, the store hands back the same settings object, failure and all.
    assert rows.gateway_of(("local", "ops", "Ops", TEXT, 2.0, None, 2)).settings is settings
    with pytest.raises(RouteMisconfigured):
        settings.route("broken", "local/ops")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_settings_a_client_sends_still_refuse_a_bad_route_as_a_400() -> None:
    with pytest.raises(RouteInvalid) as refused:
        GatewaySettings.model_validate_json(TEXT)
    assert refused.value.status == 400
    assert refused.value.problems[0].path == "routes.broken.split[0].weight"


@pytest.mark.parametrize(("weight", "read_as"), [("50", 50.0), (True, 1.0)])
def test_a_stored_weight_an_older_version_took_is_read_as_it_did(weight: object, read_as: float) -> None:
    """Before weights had to be JSON numbers, "50" and true were taken (as 50 and 1) and saved: such
    a stored route still serves, while a client sending it is refused (review of 01b612d)."""
    split = {
        "split": [
            {"weight": weight, "then": {"model": "openai/a"}},
            {"weight": 50, "then": {"model": "openai/b"}},
        ]
    }
    text = orjson.dumps({"routes": {"ab": split}}).decode()
    settings = GatewayRows().gateway_of(("local", "ops", "Ops", text, 1.0, None, 1)).settings
    route = settings.route("ab", "local/ops")
    assert route is not None
    assert isinstance(route.root, SplitNode)
    assert [branch.weight for branch in route.root.split] == [read_as, 50.0]
    assert settings.route_errors("local/ops") == {}
    with pytest.raises(RouteInvalid) as refused:
        GatewaySettings.model_validate_json(text)
    assert refused.value.problems[0].path == "routes.ab.split[0].weight"
