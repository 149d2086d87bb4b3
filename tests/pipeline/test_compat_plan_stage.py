"""Compat planning, through Plan, called directly: `{provider}/{model}` becomes one step to that
provider, as it is for an OpenAI-compatible one, translated to the native API of the others."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.compat import compat_targets
from sluicegate.custom_providers import CustomProviderDirectory, ProviderBook
from sluicegate.errors import BadRequest, NotFound
from sluicegate.exchange import Exchange, Reply, RetryPolicy
from sluicegate.gateway import GatewaySettings
from sluicegate.keys import KeyVault
from sluicegate.pipeline.compat import compat_planner
from sluicegate.pipeline.dynamic import DynamicRoutes
from sluicegate.pipeline.resolve import Plan
from sluicegate.pipeline.response_items import ResponseItems
from sluicegate.pipeline.steps import PlanInput
from sluicegate.providers import REGISTRY
from sluicegate.providers.openai import OPENAI
from sluicegate.storage.limiter import MemoryLimiter
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.stage_parts import Downstream, make_exchange, make_gateway


async def planned(database: SqliteDatabase, body: object, path: str = "chat/completions") -> Exchange:
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, KeyVault(""), allowed_hosts=()))
    planner = compat_planner(
        book, compat_targets(REGISTRY), DynamicRoutes(MemoryLimiter(), TokenCounter()), ResponseItems(None)
    )
    exchange = make_exchange(
        path,
        provider="compat",
        kind="compat",
        body=orjson.dumps(body),
        headers={"Authorization": "Bearer sk-client"},
        gateway=make_gateway(),
    )
    downstream = Downstream()
    await Plan({"compat": planner})(exchange, downstream)
    return downstream.seen[0]


async def test_an_openai_compatible_model_goes_as_it_came_without_its_prefix(
    database: SqliteDatabase,
) -> None:
    asked = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    [step] = (await planned(database, asked)).plan.steps
    assert (step.provider.name, step.route.path) == ("openai", "chat/completions")
    assert orjson.loads(step.body) == {**asked, "model": "gpt-4o-mini"}
    assert step.answer is None
    assert step.headers["Authorization"] == "Bearer sk-client"


async def test_an_anthropic_model_is_translated_there_and_its_answer_back(database: SqliteDatabase) -> None:
    asked = {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 16,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    }
    [step] = (await planned(database, asked)).plan.steps
    assert (step.provider.name, step.route.path) == ("anthropic", "v1/messages")
    native = orjson.loads(step.body)
    assert native["model"] == "claude-haiku-4-5"
    assert native["max_tokens"] == 16
    assert "Be brief." in orjson.dumps(native["system"]).decode()  # the system turn moves out
    assert [m["role"] for m in native["messages"]] == ["user"]
    assert step.headers["anthropic-version"] == "2023-06-01"
    assert step.reader is OPENAI  # the client (and the log) see OpenAI's shape
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }  # fmt: skip
    assert step.answer is not None
    answer = step.answer(Reply(200, CIMultiDict({"Content-Type": "application/json"}), orjson.dumps(message)))
    chat = orjson.loads(answer.body)
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["content"] == "hello"
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["usage"]["prompt_tokens"] == 5


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("gpt-4o-mini", 'model must be "{provider}/{model}"'),
        ("opneai/gpt-4o-mini", "unknown provider 'opneai' in model"),
    ],
)
async def test_a_model_that_names_no_known_provider_is_a_400(
    database: SqliteDatabase, model: str, problem: str
) -> None:
    with pytest.raises(BadRequest, match=problem) as caught:
        await planned(database, {"model": model, "messages": []})
    assert caught.value.details["field"] == "model"


async def test_a_provider_without_that_compat_path_is_a_400_naming_the_usable_ones(
    database: SqliteDatabase,
) -> None:
    with pytest.raises(BadRequest, match="'anthropic' is not available for compat/embeddings") as caught:
        await planned(database, {"model": "anthropic/claude-haiku-4-5", "input": "hi"}, "embeddings")
    assert "openai" in caught.value.details["providers"]


async def test_a_path_the_compat_endpoint_does_not_serve_is_a_404(database: SqliteDatabase) -> None:
    with pytest.raises(NotFound, match="not 'images/generations'") as caught:
        await planned(database, {"model": "openai/dall-e-3"}, "images/generations")
    assert "chat/completions" in caught.value.details["paths"]


async def test_a_body_that_is_not_a_json_object_is_a_400(database: SqliteDatabase) -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        await planned(database, ["openai/gpt-4o"])


async def test_the_planner_reads_the_gateway_and_metadata_it_is_given(database: SqliteDatabase) -> None:
    """A planner called with plain inputs, no Exchange: a dynamic route's `if` reads the metadata
    passed in, from the routes of the gateway passed in."""
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, KeyVault(""), allowed_hosts=()))
    planner = compat_planner(
        book, compat_targets(REGISTRY), DynamicRoutes(MemoryLimiter(), TokenCounter()), ResponseItems(None)
    )
    route = {
        "if": {"metadata.tier": "pro"},
        "then": {"model": "openai/gpt-4o"},
        "else": {"model": "openai/gpt-4o-mini"},
    }
    gateway = make_gateway(GatewaySettings(routes={"support": route}))
    body = orjson.dumps({"model": "dynamic/support", "messages": [{"role": "user", "content": "hi"}]})
    request = make_exchange(provider="compat", kind="compat", body=body).request
    policy = RetryPolicy()
    pro = await planner(PlanInput(request, gateway, None, {"tier": "pro"}, body, policy))
    free = await planner(PlanInput(request, gateway, None, {}, body, policy))
    assert [orjson.loads(step.body)["model"] for step in pro.steps] == ["gpt-4o"]
    assert [orjson.loads(step.body)["model"] for step in free.steps] == ["gpt-4o-mini"]
    assert pro.route_plan is not None
    assert pro.route_plan.path == "if=then"
    with pytest.raises(BadRequest, match="has no route"):
        await planner(PlanInput(request, make_gateway(), None, {"tier": "pro"}, body, policy))
