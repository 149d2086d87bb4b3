"""Cloudflare's log parameters → `LogQuery`, encoded by the official SDK's own query encoder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cloudflare import Cloudflare
from multidict import MultiDict

from sluicegate.cfapi.envelope import Page
from sluicegate.cfapi.log_query import delete_query, list_query
from sluicegate.errors import BadRequest
from sluicegate.storage.base import LogCondition

PAGE = Page(page=3, per_page=10)


@pytest.fixture
def sdk() -> Iterator[Cloudflare]:
    client = Cloudflare(api_token="unused", base_url="http://127.0.0.1:9/client/v4")
    yield client
    client.close()


def encoded(sdk: Cloudflare, **params: Any) -> MultiDict[str]:
    """The parameters as the SDK puts them in the URL: its `qs` (dotted names, repeated arrays),
    through its HTTP client's query params (which group repeated names)."""
    return MultiDict(httpx.QueryParams(sdk.qs.stringify_items(params)).multi_items())


def conditions(params: MultiDict[str]) -> tuple[LogCondition, ...]:
    return list_query("local", "g", params, PAGE).conditions


def test_filters_as_the_sdk_sends_them(sdk: Cloudflare) -> None:
    one = encoded(sdk, filters=[{"key": "model", "operator": "eq", "value": ["gpt-4o", "o3"]}])
    assert conditions(one) == (LogCondition("model", "eq", ("gpt-4o", "o3")),)
    several = encoded(
        sdk,
        filters=[
            {"key": "cached", "operator": "eq", "value": [True]},
            {"key": "cost", "operator": "gt", "value": [0.5]},
            {"key": "created_at", "operator": "lt", "value": ["2026-11-26T10:00:00Z"]},
            {"key": "metadata.key", "operator": "contains", "value": ["team"]},
        ],
    )
    assert [name for name, _ in several.items()][:2] == [
        "filters.key",
        "filters.key",
    ]  # grouped: the case to untangle
    assert conditions(several) == (
        LogCondition("cached", "eq", (True,)),
        LogCondition("cost_usd", "gt", (0.5,)),
        LogCondition("ts", "lt", (1_795_687_200.0,)),
        LogCondition("metadata_key", "contains", ("team",)),
    )
    as_json = MultiDict(
        {"filters": orjson.dumps([{"key": "tokens", "operator": "gt", "value": [10, None]}]).decode()}
    )
    with pytest.raises(BadRequest, match="compares with one value"):
        conditions(as_json)
    as_json = MultiDict({"filters": '[{"key": "model", "operator": "neq", "value": [null, "a"]}]'})
    assert conditions(as_json) == (LogCondition("model", "neq", (None, "a")),)


def test_the_flat_parameters_order_and_page(sdk: Cloudflare) -> None:
    params = encoded(
        sdk,
        cached=False,
        success=True,
        model="gpt-4o",
        provider="openai",
        search="team",
        start_date="2026-11-26T00:00:00Z",
        min_cost=0.01,
        max_total_tokens=500,
        max_duration=250,
        order_by="cost",
        order_by_direction="asc",
        meta_info=True,
    )
    query = list_query("local", "g", params, PAGE)
    assert query.conditions == (
        LogCondition("cached", "eq", (False,)),
        LogCondition("success", "eq", (True,)),
        LogCondition("model", "eq", ("gpt-4o",)),
        LogCondition("provider", "eq", ("openai",)),
        LogCondition("text", "contains", ("team",)),
        LogCondition("ts", "ge", (1_795_651_200.0,)),
        LogCondition("cost_usd", "ge", (0.01,)),
        LogCondition("latency_ms", "le", (250.0,)),
        LogCondition("tokens", "le", (500.0,)),
    )
    assert (query.order, query.offset, query.limit) == (("cost_usd", False), 20, 10)
    assert list_query("local", "g", MultiDict(), PAGE).order == ("ts", True)  # newest first
    assert list_query("local", "g", MultiDict(direction="asc"), PAGE).order == ("ts", False)


def test_delete_takes_every_match_or_the_first_few_oldest_first(sdk: Cloudflare) -> None:
    everything = delete_query("local", "g", MultiDict())
    assert (everything.conditions, everything.limit, everything.order) == ((), -1, ("ts", False))
    few = delete_query("local", "g", encoded(sdk, limit=5, order_by="tokens_in", order_by_direction="desc"))
    assert (few.limit, few.order) == (5, ("tokens_in", True))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"perpage": "5"}, "unknown parameter 'perpage'; did you mean 'per_page'?"),
        ({"filters.kye": "model"}, "unknown parameter 'filters.kye'; did you mean 'key'?"),
        ({"model_type": "chat"}, "model_type cannot be filtered on: Sluicegate does not record a model type"),
        ({"feedback": "up"}, "got 'up'; for 'up' send feedback=1"),
        ({"filters": '[{"key": "feedback", "operator": "eq", "value": [0.5]}]'}, "thumbs up), got '0.5'"),
        (
            {"order_by": "model_type"},
            "order_by 'model_type' cannot be served: Sluicegate does not record a model type",
        ),
        ({"order_by": "costs"}, "order_by 'costs' is unknown; did you mean 'cost'?"),
        ({"direction": "up"}, "direction must be asc or desc, got 'up'"),
        ({"cached": "yes"}, "cached must be true or false, got 'yes'"),
        ({"min_cost": "cheap"}, "min_cost must be a number, got 'cheap'"),
        (
            {"start_date": "yesterday"},
            "start_date must be epoch seconds or an ISO 8601 time, got 'yesterday'",
        ),
        ({"filters": "model=gpt"}, "filters must be a JSON array of {key, operator, value} objects"),
        ({"filters": '[{"key": "user_agent", "operator": "eq", "value": ["x"]}]'}, "'user_agent' cannot be"),
        ({"filters": '[{"key": "cost", "operator": "contains", "value": ["1"]}]'}, "cost is not text"),
        ({"filters": '[{"key": "model", "operator": "like", "value": ["x"]}]'}, "unknown operator 'like'"),
        ({"filters": '[{"key": "model", "operator": "eq", "value": []}]'}, "filters[0] has no value"),
        ({"filters": '[{"key": "model", "operator": "eq"}]'}, "filters[0] has no value"),
        ({"filters": '[{"key": ["model"], "operator": "eq", "value": [1]}]'}, "key and operator are strings"),
    ],
)
def test_what_cannot_be_served_is_refused_with_the_reason(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        conditions(MultiDict(params))
    assert message in refused.value.message


def test_several_filters_whose_values_cannot_be_told_apart_are_refused(sdk: Cloudflare) -> None:
    tangled = encoded(
        sdk,
        filters=[
            {"key": "model", "operator": "eq", "value": ["a", "b"]},
            {"key": "provider", "operator": "eq", "value": ["openai"]},
        ],
    )
    with pytest.raises(BadRequest, match="give each filter one value, or send `filters` as a JSON array"):
        conditions(tangled)
    with pytest.raises(BadRequest, match="got 2 keys, 1 operators and 1 values"):
        conditions(
            MultiDict(
                [
                    ("filters.key", "a"),
                    ("filters.key", "b"),
                    ("filters.operator", "eq"),
                    ("filters.value", "x"),
                ]
            )
        )
