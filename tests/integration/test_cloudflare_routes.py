"""Cloudflare's dynamic routes on Sluicegate: written with the official `cloudflare` SDK, served on
the compat endpoint to the official `openai` SDK (against the fake OpenAI, which answers with the
model it was sent), and read back through the SDK when written natively."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
import pytest
from cloudflare import BadRequestError, Cloudflare, ConflictError, NotFoundError

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT, GATEWAY = "local", "default"
ROUTES = "/api/v1/accounts/local/gateways/default/routes"
CF_ROUTES = "/client/v4/accounts/local/ai-gateway/gateways/default/routes"
MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]
WHERE = {"account_id": ACCOUNT, "gateway_id": GATEWAY}


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def cf(gw: RunningGateway) -> Iterator[Cloudflare]:
    with Cloudflare(api_token=ADMIN_TOKEN, base_url=gw.url + "/client/v4", max_retries=0) as client:
        yield client


@pytest.fixture
def client(gw: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.provider_url("compat"), api_key="sk-provider", max_retries=0) as made:
        yield made


def ask(client: openai.OpenAI, route: str, **metadata: Any) -> str:
    """The model that answered `dynamic/<route>` (with a small cap on the answer: a token limit
    reserves it, else the rule's `reserve` of 1024)."""
    headers = {"cf-aig-metadata": orjson.dumps(metadata).decode()} if metadata else {}
    answer = client.chat.completions.create(
        model=f"dynamic/{route}", messages=MESSAGES, extra_headers=headers, max_tokens=16
    )
    return answer.model


def to(ident: str) -> dict[str, str]:
    return {"elementId": ident}


def model(ident: str, name: str, fallback: str = "end", **extra: Any) -> dict[str, Any]:
    properties = {"provider": "openai", "model": name, "timeout": 30000, "retries": 0, **extra}
    return {"id": ident, "type": "model", "properties": properties,
            "outputs": {"success": to("end"), "fallback": to(fallback)}}  # fmt: skip


# Pro users get "best" (falling back to "backup" when it fails); everyone else gets "cheap" until
# their user has spent one request an hour, then "spent".
SUPPORT: list[dict[str, Any]] = [
    {"id": "start", "type": "start", "outputs": {"next": to("tier")}},
    {"id": "tier", "type": "conditional", "properties": {"conditions": {"metadata.tier": {"$eq": "pro"}}},
     "outputs": {"true": to("best"), "false": to("quota")}},
    model("best", "error-503", fallback="backup"),
    model("backup", "backup"),
    {"id": "quota", "type": "rate",
     "properties": {"limitType": "count", "key": "metadata.user", "limit": 1, "window": 3600},
     "outputs": {"success": to("cheap"), "fallback": to("spent")}},
    model("cheap", "cheap"),
    model("spent", "spent"),
    {"id": "end", "type": "end", "outputs": {}},
]  # fmt: skip


def test_a_route_created_through_the_sdk_answers_dynamic_name_on_the_compat_endpoint(
    gw: RunningGateway, cf: Cloudflare, client: openai.OpenAI
) -> None:
    created = cf.ai_gateway.dynamic_routing.create(
        GATEWAY, account_id=ACCOUNT, name="support", elements=SUPPORT
    )  # type: ignore[arg-type]
    assert (created.id, created.name, created.gateway_id) == ("support", "support", GATEWAY)
    assert (created.version.version_id, created.version.active) == ("1", "true")
    assert created.deployment.version_id == "1"

    assert ask(client, "support", tier="pro") == "backup"  # best failed with a 503: its fallback output
    assert ask(client, "support", tier="free", user="ann") == "cheap"
    gw.wait_for_logs(2)  # the limit is counted once the answer completed, before its record is written
    assert ask(client, "support", tier="free", user="ann") == "spent"
    assert ask(client, "support", tier="free", user="bob") == "cheap"

    # The same route, as the native API sees it.
    native = gw.http.get(f"{ROUTES}/support").json()
    assert native["version"] == 1
    assert native["route"] == {
        "if": {"metadata.tier": "pro"},
        "then": {"fallback": [
            {"model": "openai/error-503", "timeout_ms": 30000, "max_attempts": 1},
            {"model": "openai/backup", "timeout_ms": 30000, "max_attempts": 1},
        ]},
        "else": {
            "limit": {"limit": 1, "period": 3600, "scope": "metadata.user"},
            "then": {"model": "openai/cheap", "timeout_ms": 30000, "max_attempts": 1},
            "else": {"model": "openai/spent", "timeout_ms": 30000, "max_attempts": 1},
        },
    }  # fmt: skip


def test_a_route_set_natively_reads_back_through_the_sdk_and_runs_the_same_when_written_back(
    gw: RunningGateway, cf: Cloudflare, client: openai.OpenAI
) -> None:
    node = {
        "if": {"not": {"metadata.region": ["eu", "uk"]}},
        "then": {"split": [{"weight": 3, "then": {"model": "openai/left"}},
                           {"weight": 1, "then": {"model": "openai/right"}}], "sticky": "metadata.user"},
        "else": {"fallback": [
            {"limit": {"unit": "tokens", "limit": 1000, "period": 60, "scope": "token"},
             "then": {"model": "openai/local", "retry_delay_ms": 50, "backoff": "linear"}},
            {"model": "openai/elsewhere"},
        ]},
    }  # fmt: skip
    assert gw.http.put(f"{ROUTES}/geo", json=node).status_code == 200

    read = cf.ai_gateway.dynamic_routing.get("geo", **WHERE)
    assert (read.id, read.name, read.version.version_id, read.version.active) == ("geo", "geo", "1", "true")
    assert [e.type for e in read.elements][0 :: len(read.elements) - 1] == ["start", "end"]
    shown = cf.ai_gateway.dynamic_routing.with_raw_response.get("geo", **WHERE).http_response.json()
    elements = {e["id"]: e for e in shown["result"]["elements"]}
    conditional = elements[elements["start"]["outputs"]["next"]["elementId"]]
    assert conditional["type"] == "conditional"
    assert conditional["properties"]["conditions"] == {"metadata.region": {"$nin": ["eu", "uk"]}}
    split = elements[conditional["outputs"]["true"]["elementId"]]
    assert (split["type"], set(split["outputs"])) == ("percentage", {"75%", "else"})
    assert split["properties"] == {"sticky": "metadata.user"}  # Sluicegate's own, kept for a write back
    models = {e["properties"]["model"]: e for e in elements.values() if e["type"] == "model"}
    assert set(models) == {"left", "right", "local", "elsewhere"}
    assert models["local"]["outputs"]["fallback"] == to(models["elsewhere"]["id"])
    assert models["local"]["properties"] | {"provider": "x"} == {
        "provider": "x", "model": "local", "timeout": None, "retries": None,  # the gateway's defaults
        "retry_delay_ms": 50, "backoff": "linear",
    }  # fmt: skip
    limit = next(e for e in elements.values() if e["type"] == "rate")
    assert limit["properties"] == {"limitType": "tokens", "key": "token", "limit": 1000, "window": 60,
                                   "technique": "fixed"}  # fmt: skip
    assert limit["outputs"]["fallback"] == to(models["elsewhere"]["id"])  # spent: the next member
    versions = cf.ai_gateway.dynamic_routing.list_versions("geo", **WHERE).data.versions
    assert [json.loads(v.data) for v in versions] == [shown["result"]["elements"]]

    # Written back through the SDK as it read them, the elements are a route that runs the same
    # (weights 3 and 1 are now 75 and 25; the limit's member is now repeated after it).
    def answers() -> list[str]:
        return [ask(client, "geo", region=region, user=f"u{n}") for n in range(8) for region in ("eu", "us")]

    before = answers()
    assert set(before) == {"local", "left", "right"}
    cf.ai_gateway.dynamic_routing.create_version(
        "geo",
        elements=[e.model_dump(by_alias=True) for e in read.elements],  # type: ignore[misc]
        **WHERE,
    )
    written = gw.http.get(f"{ROUTES}/geo").json()
    assert (written["version"], written["route"]["then"]["split"][0]["weight"]) == (2, 75)
    assert answers() == before
    # Read and written back once more, nothing changes: no new version.
    again = cf.ai_gateway.dynamic_routing.get("geo", **WHERE).elements
    cf.ai_gateway.dynamic_routing.create_version(
        "geo",
        elements=[e.model_dump(by_alias=True) for e in again],
        **WHERE,  # type: ignore[misc]
    )
    assert gw.http.get(f"{ROUTES}/geo").json() == written


def test_versions_deployments_rename_and_delete(
    gw: RunningGateway, cf: Cloudflare, client: openai.OpenAI
) -> None:
    one = [{"id": "s", "type": "start", "outputs": {"next": to("m")}}, model("m", "one"),
           {"id": "end", "type": "end", "outputs": {}}]  # fmt: skip
    two = [*one[:1], model("m", "two"), one[2]]
    cf.ai_gateway.dynamic_routing.create(GATEWAY, account_id=ACCOUNT, name="pick", elements=one)  # type: ignore[arg-type]
    raw = cf.ai_gateway.dynamic_routing.with_raw_response.create_version("pick", elements=two, **WHERE)  # type: ignore[arg-type]
    assert "deployed" in raw.http_response.json()["messages"][0]["message"]  # served at once, and says so
    assert ask(client, "pick") == "two"
    versions = cf.ai_gateway.dynamic_routing.list_versions("pick", **WHERE).data.versions
    assert [(v.version_id, v.active) for v in versions] == [("2", "true"), ("1", "false")]
    first = cf.ai_gateway.dynamic_routing.get_version("1", id="pick", **WHERE)
    assert [
        e.model_dump(by_alias=True)["properties"]["model"] for e in first.elements if e.type == "model"
    ] == ["one"]

    # Deploying version 1 again saves it as version 3 (history is never rewritten).
    deployed = cf.ai_gateway.dynamic_routing.with_raw_response.create_deployment(
        "pick", version_id="1", **WHERE
    )
    assert deployed.http_response.json()["messages"][0]["message"] == (
        "version 1 was saved again as version 3, which is now served"
    )
    assert ask(client, "pick") == "one"
    deployments = cf.ai_gateway.dynamic_routing.list_deployments("pick", **WHERE).data.deployments
    assert [d.version_id for d in deployments] == ["3", "2", "1"]

    renamed = cf.ai_gateway.dynamic_routing.update("pick", name="chosen", **WHERE)
    assert (renamed.route.id, renamed.route.name) == ("chosen", "chosen")
    assert ask(client, "chosen") == "one"
    listed = cf.ai_gateway.dynamic_routing.list(GATEWAY, account_id=ACCOUNT).data.routes
    assert [r.name for r in listed] == ["chosen"]
    deleted = cf.ai_gateway.dynamic_routing.delete("chosen", **WHERE)
    assert deleted.name == "chosen"
    with pytest.raises(NotFoundError):
        cf.ai_gateway.dynamic_routing.get("chosen", **WHERE)
    with pytest.raises(openai.BadRequestError):
        ask(client, "chosen")


def error_of(failure: Any) -> dict[str, Any]:
    body = failure.response.json()
    assert (body["success"], body["result"]) == (False, None)
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.mark.parametrize(
    ("element", "pointer", "says"),
    [
        ({"id": "c", "type": "conditional", "properties": {"conditions": {"body.temperature": {"$gt": 1}}},
          "outputs": {"true": to("m"), "false": to("m")}},
         "/elements/1/properties/conditions/body/temperature", "cannot branch on 'body.temperature'"),
        ({"id": "c", "type": "conditional", "properties": {"conditions": {"metadata.plan": {"$regex": "^p"}}},
          "outputs": {"true": to("m"), "false": to("m")}},
         "/elements/1/properties/conditions/metadata/plan/$regex", "operator '$regex' is not served"),
        ({"id": "c", "type": "percentage", "outputs": {"30%": to("m"), "60%": to("m")}},
         "/elements/1/outputs", "add up to 90%"),
        ({"id": "c", "type": "rate", "properties": {"limitType": "count", "key": "headers.x-user", "limit": 5,
          "window": 60}, "outputs": {"success": to("m"), "fallback": to("end")}},
         "/elements/1/properties/key", "cannot count per 'headers.x-user'"),
        ({"id": "c", "type": "rate", "properties": {"limitType": "count", "key": "metadata.u", "limit": 5,
          "window": 0.5}, "outputs": {"success": to("m"), "fallback": to("end")}},
         "/elements/1/properties/window", "whole number of seconds"),
        ({"id": "c", "type": "model", "properties": {"provider": "openai", "model": "x", "timeout": 1000,
          "retries": 9}, "outputs": {"success": to("end"), "fallback": to("end")}},
         "/elements/1/properties/retries", "from 0 to 4"),
        ({"id": "c", "type": "model", "properties": {"provider": "openai", "model": "x", "timeout": 1000,
          "retries": 0}, "outputs": {"success": to("m"), "fallback": to("end")}},
         "/elements/1/outputs/success", "must lead to an end element"),
        ({"id": "c", "type": "conditional", "properties": {"conditions": {"metadata.plan": "pro"}},
          "outputs": {"true": to("m"), "false": to("end")}},
         "/elements/1/outputs/false", "leads to end ('end') before any model"),
        ({"id": "c", "type": "conditional", "properties": {"conditions": {"metadata.plan": "pro"}},
          "outputs": {"true": to("m"), "false": to("c")}},
         "/elements/1/outputs/false", "cannot loop"),
        ({"id": "c", "type": "switch", "outputs": {}}, "/elements/1/type", "unknown element type 'switch'"),
    ],
)  # fmt: skip
def test_what_cannot_run_the_same_is_refused_naming_the_element(
    gw: RunningGateway, cf: Cloudflare, element: dict[str, Any], pointer: str, says: str
) -> None:
    elements = [{"id": "s", "type": "start", "outputs": {"next": to("c")}}, element, model("m", "x"),
                {"id": "end", "type": "end", "outputs": {}}]  # fmt: skip
    with pytest.raises(BadRequestError) as refused:
        cf.ai_gateway.dynamic_routing.create(GATEWAY, account_id=ACCOUNT, name="odd", elements=elements)  # type: ignore[arg-type]
    error = error_of(refused.value)
    assert error["source"]["pointer"] == pointer
    assert says in error["message"]
    assert error["message"].startswith("elements[")  # names the element by its place and id
    assert gw.http.get(f"{ROUTES}/odd").status_code == 404  # nothing was saved


def test_a_route_problem_found_by_validation_names_the_element_and_a_taken_name_conflicts(
    gw: RunningGateway, cf: Cloudflare
) -> None:
    wobbly = model("m", "x", backoff="wobbly")
    bad = [{"id": "s", "type": "start", "outputs": {"next": to("m")}}, wobbly,
           {"id": "end", "type": "end", "outputs": {}}]  # fmt: skip
    with pytest.raises(BadRequestError) as refused:
        cf.ai_gateway.dynamic_routing.create(GATEWAY, account_id=ACCOUNT, name="odd", elements=bad)  # type: ignore[arg-type]
    error = error_of(refused.value)
    assert error["message"].startswith("elements[1] ('m', model) (backoff): ")
    assert error["source"]["pointer"] == "/elements/1"

    assert gw.http.put(f"{ROUTES}/taken", json={"model": "openai/x"}).status_code == 200
    with pytest.raises(ConflictError) as conflict:
        cf.ai_gateway.dynamic_routing.create(GATEWAY, account_id=ACCOUNT, name="taken", elements=bad)  # type: ignore[arg-type]
    assert "already has a route 'taken'" in error_of(conflict.value)["message"]
