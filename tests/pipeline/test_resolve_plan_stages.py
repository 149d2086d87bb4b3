"""Resolve and Plan, called directly: which gateway a request is for, and the steps it becomes."""

from __future__ import annotations

import dataclasses
import time

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.custom_providers import CustomProviderDirectory, ProviderBook
from sluicegate.directory import GatewayDirectory
from sluicegate.errors import BadRequest, NotFound, UnknownGateway, UnknownProvider
from sluicegate.exchange import ClientOptions, RetryPolicy
from sluicegate.gateway import GatewaySettings
from sluicegate.keys import KeyVault
from sluicegate.pipeline.resolve import Plan, Resolve, read_options
from sluicegate.pipeline.steps import PlanInput, provider_planner, realtime_planner
from sluicegate.providers import REALTIME_PROVIDERS, REGISTRY
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.tokens import Scope, TokenDirectory
from tests.pipeline.stage_parts import ACCOUNT, SLUG, Downstream, make_exchange, make_gateway, stored_token


def resolve(database: SqliteDatabase, host_gateway: str = "local/default") -> Resolve:
    return Resolve(GatewayDirectory(database), TokenDirectory(database, time.time), host_gateway)


def plan(database: SqliteDatabase) -> Plan:
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, KeyVault(""), allowed_hosts=()))
    return Plan({"provider": provider_planner(book)})


async def test_resolve_finds_the_gateway_and_reads_its_headers(database: SqliteDatabase) -> None:
    await database.create_gateway(ACCOUNT, SLUG, "Main", GatewaySettings())
    headers = {"cf-aig-metadata": '{"user": "ann", "tier": 2}', "cf-aig-collect-log-payload": "false"}
    downstream = Downstream()
    await resolve(database)(make_exchange(headers=headers), downstream)
    [exchange] = downstream.seen
    assert exchange.gateway is not None
    assert exchange.gateway.slug == SLUG
    assert exchange.options.metadata == {"user": "ann", "tier": 2}
    assert (exchange.options.collect_log, exchange.options.collect_payload) == (
        None,
        False,
    )  # None: as the gateway says


async def test_an_unknown_gateway_is_a_404_naming_the_ones_there_are(database: SqliteDatabase) -> None:
    await database.create_gateway(ACCOUNT, "mian", "Main", GatewaySettings())
    downstream = Downstream()
    with pytest.raises(UnknownGateway) as caught:
        await resolve(database)(make_exchange(), downstream)
    assert caught.value.details["gateways"] == ["default", "mian"]  # the store makes `default`
    assert "'mian'" in caught.value.message  # the likeliest meant
    assert downstream.seen == []


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"a":1,"b":2,"c":3,"d":4,"e":5,"f":{"x":1}}', "entry 'f' must be a string"),  # past the fifth too
        ('{"user": {"nested": 1}}', "must be a string, number or boolean"),
    ],
)
async def test_bad_metadata_is_a_400_naming_the_header(
    database: SqliteDatabase, metadata: str, problem: str
) -> None:
    await database.create_gateway(ACCOUNT, SLUG, "Main", GatewaySettings())
    with pytest.raises(BadRequest, match=problem) as caught:
        await resolve(database)(make_exchange(headers={"cf-aig-metadata": metadata}), Downstream())
    assert caught.value.details["header"] == "cf-aig-metadata"


async def test_metadata_past_five_entries_keeps_the_first_five_in_the_order_sent(
    database: SqliteDatabase,
) -> None:
    await database.create_gateway(ACCOUNT, SLUG, "Main", GatewaySettings())
    headers = {"cf-aig-metadata": '{"f":6,"e":5,"d":4,"c":3,"b":2,"a":1,"z":0}'}
    downstream = Downstream()
    await resolve(database)(make_exchange(headers=headers), downstream)
    [exchange] = downstream.seen
    assert list(exchange.options.metadata.items()) == [("f", 6), ("e", 5), ("d", 4), ("c", 3), ("b", 2)]
    assert exchange.options.metadata_dropped == ("a", "z")


async def test_a_host_in_path_request_goes_to_its_token_s_only_gateway(database: SqliteDatabase) -> None:
    await database.create_gateway(ACCOUNT, "team", "Team", GatewaySettings())
    secret, _ = await stored_token(database, Scope.RUN, gateways=("team",))
    downstream = Downstream()
    exchange = make_exchange(slug="", headers={"x-sluicegate-token": secret})
    asked = exchange.request
    await resolve(database, host_gateway="local/nowhere")(exchange, downstream)
    assert [seen.request.gateway_slug for seen in downstream.seen] == ["team"]
    # The request resolved is a new one, the same in all but its gateway (log id and times too).
    assert asked.gateway_slug == ""
    assert exchange.request == dataclasses.replace(asked, gateway_slug="team")


async def test_plan_reads_the_body_and_makes_one_step_for_the_named_provider(
    database: SqliteDatabase,
) -> None:
    body = b'{"model": "claude-haiku-4-5", "max_tokens": 8, "messages": []}'
    headers = {"x-api-key": "sk-ant-client", "cf-aig-metadata": "{}", "anthropic-version": "2023-06-01"}
    exchange = make_exchange("v1/messages", provider="anthropic", body=body, headers=headers)
    exchange.gateway = make_gateway(GatewaySettings(max_attempts=3))
    downstream = Downstream()
    await plan(database)(exchange, downstream)
    [step] = downstream.seen[0].plan.steps
    assert step.provider.name == "anthropic"
    assert step.body == body
    assert exchange.plan.body == body
    assert step.facts.model == "claude-haiku-4-5"
    assert step.retry.max_attempts == 3  # the gateway's retry settings
    assert step.headers["x-api-key"] == "sk-ant-client"
    assert "cf-aig-metadata" not in step.headers  # the gateway's own headers stay here


async def test_plan_refuses_an_unknown_provider_naming_the_known_ones(database: SqliteDatabase) -> None:
    exchange = make_exchange(provider="opneai", gateway=make_gateway())
    with pytest.raises(UnknownProvider) as caught:
        await plan(database)(exchange, Downstream())
    assert "openai" in caught.value.details["providers"]


async def test_plan_refuses_a_path_that_repeats_the_base_url(database: SqliteDatabase) -> None:
    downstream = Downstream()
    with pytest.raises(NotFound) as caught:
        await plan(database)(make_exchange("v1/chat/completions", gateway=make_gateway()), downstream)
    assert caught.value.details["did_you_mean"] == f"/v1/{ACCOUNT}/{SLUG}/openai/chat/completions"
    assert downstream.seen == []


@pytest.mark.parametrize(("provider", "path"), [("anthropic", "realtime"), ("openai", "chat/completions")])
async def test_a_realtime_upgrade_elsewhere_is_a_404_naming_every_realtime_provider(
    database: SqliteDatabase, provider: str, path: str
) -> None:
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, KeyVault(""), allowed_hosts=()))
    exchange = make_exchange(path, provider=provider, body=b"")
    asked = PlanInput(exchange.request, make_gateway(), None, {}, b"", RetryPolicy())
    with pytest.raises(NotFound) as caught:
        await realtime_planner(book)(asked)
    assert caught.value.details["providers"] == sorted(REALTIME_PROVIDERS)
    assert REALTIME_PROVIDERS  # else the message below names nothing
    for name in REALTIME_PROVIDERS:
        assert f"…/{name}/" in caught.value.message


def test_read_options_fills_in_header_order_and_keeps_what_came_before_a_bad_one() -> None:
    """The options decision alone, with plain headers: no store, no Exchange."""
    headers = CIMultiDictProxy(
        CIMultiDict({"cf-aig-metadata": '{"user": "ann"}', "cf-aig-custom-cost": "not json"})
    )
    options = ClientOptions()
    with pytest.raises(BadRequest, match="cf-aig-custom-cost"):
        read_options(headers, options)
    assert options.metadata == {"user": "ann"}  # logged with the refusal
    quiet = ClientOptions()
    read_options(CIMultiDictProxy(CIMultiDict({"cf-aig-collect-log": "False "})), quiet)
    assert (quiet.collect_log, quiet.collect_payload, quiet.custom_cost) == (False, True, None)


async def test_plan_refuses_a_body_meant_as_json_it_cannot_read_with_the_plan_kept_for_the_log(
    database: SqliteDatabase,
) -> None:
    """No stage of its own: the body is read and judged where the steps are made."""
    body = b'{"model": "gpt-4o-mini", "temperature": NaN}'
    exchange = make_exchange(body=body, headers={"Content-Type": "application/json"}, gateway=make_gateway())
    downstream = Downstream()
    with pytest.raises(BadRequest, match="at byte 40: NaN is not a JSON number") as caught:
        await plan(database)(exchange, downstream)
    assert caught.value.details["byte"] == 40
    assert downstream.seen == []
    [step] = exchange.plan.steps  # what the log stage records the refusal with
    assert step.body == body
    # A body declared as something else is never read as JSON, so never refused as JSON.
    raw = make_exchange(
        body=body, headers={"Content-Type": "application/octet-stream"}, gateway=make_gateway()
    )
    await plan(database)(raw, downstream)
    assert [seen.plan.steps[0].body for seen in downstream.seen] == [body]
