"""`item_reference` on `…/compat/responses`: the official `openai` SDK sends an earlier answer's
output items back by id (as the Vercel AI SDK does with `store` left true), and the gateway puts
the items it rendered in their place, per gateway, for a while; an id it does not keep is a 400
that says what to do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

MODEL = "anthropic/claude-sonnet-4-5"
FIRST: Any = {"role": "user", "content": "what is the capital of France"}
SECOND: Any = {"role": "user", "content": "and of Italy"}
TOOL: Any = {
    "type": "function",
    "name": "lookup_capital",
    "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic().serve() as an, FakeOpenAI().serve() as oa:
        yield {"anthropic": an, "deepseek": oa}


@pytest.fixture
def upstreams(fakes: dict[str, Any]) -> dict[str, str]:
    return {name: fake.base_url for name, fake in fakes.items()}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstreams: dict[str, str]) -> RunningGateway:
    return make_gateway(upstreams=upstreams)


def sdk(gateway: RunningGateway, name: str = "default") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat", name), api_key="k", max_retries=0)


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with sdk(gateway) as client:
        yield client


def reference(item: Any) -> Any:
    return {"type": "item_reference", "id": item.id}


def sent_messages(fake: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = fake.requests[-1].json["messages"]
    return messages


@pytest.mark.parametrize("model", [MODEL, "deepseek/deepseek-chat"])
def test_a_second_turn_names_the_first_answer_by_id(
    client: openai.OpenAI, fakes: dict[str, Any], model: str
) -> None:
    first = client.responses.create(model=model, input=[FIRST])
    [message] = first.output
    assert message.id.startswith("msg_")
    second = client.responses.create(model=model, input=[FIRST, reference(message), SECOND])
    assert "Italy" in second.output_text
    said = sent_messages(fakes[model.partition("/")[0]])
    assert [m["role"] for m in said] == ["user", "assistant", "user"]
    assert first.output_text in str(said[1]["content"])  # the kept answer, in place of its id


def test_a_streamed_answers_items_and_a_tool_call_are_named_too(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    events = list(
        client.responses.create(model=MODEL, input=[FIRST], tools=[TOOL], tool_choice="required", stream=True)
    )
    added = [event.item.id for event in events if event.type == "response.output_item.added"]
    final = events[-1].response  # type: ignore[union-attr]
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.id in added  # the id the stream announced is the one kept
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": "Paris"}
    client.responses.create(model=MODEL, input=[FIRST, reference(call), answer], tools=[TOOL])
    said = sent_messages(fakes["anthropic"])
    tool_use = next(block for block in said[1]["content"] if block["type"] == "tool_use")
    assert (tool_use["id"], tool_use["name"]) == (call.call_id, "lookup_capital")
    assert said[2]["content"][0]["type"] == "tool_result"


def test_an_id_the_gateway_does_not_keep_is_a_400_that_says_what_to_do(
    gateway: RunningGateway, client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    unstored = client.responses.create(model=MODEL, input=[FIRST], store=False).output[0]
    gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "other"}).raise_for_status()
    with sdk(gateway, "other") as other:
        elsewhere = other.responses.create(model=MODEL, input=[FIRST]).output[0]
    for unknown in ({"type": "item_reference", "id": "msg_never"}, reference(unstored), reference(elsewhere)):
        before = len(fakes["anthropic"].requests)
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=MODEL, input=[FIRST, unknown, SECOND])
        error = caught.value.body
        assert isinstance(error, dict)
        assert error["field"] == "input[1]"
        assert unknown["id"] in error["message"]
        assert "store: false" in error["message"]
        assert "send the item itself" in error["message"]
        assert "another worker (serve --workers) or replica" in error["message"]  # no Redis here
        assert len(fakes["anthropic"].requests) == before  # nothing went upstream


def stored(response: Any) -> Any:
    """The Response's `store` (the openai SDK's Response type does not declare it)."""
    return response.model_dump()["store"]


def test_a_response_says_store_true_when_its_items_are_kept(client: openai.OpenAI) -> None:
    assert stored(client.responses.create(model=MODEL, input=[FIRST])) is True
    assert stored(client.responses.create(model=MODEL, input=[FIRST], store=True)) is True
    assert stored(client.responses.create(model=MODEL, input=[FIRST], store=False)) is False
    for asked, kept in (({}, True), ({"store": False}, False)):
        events = list(client.responses.create(model=MODEL, input=[FIRST], stream=True, **asked))
        said = [stored(event.response) for event in events if hasattr(event, "response")]
        assert said == [kept] * 3  # created, in_progress, completed


def test_items_are_kept_a_while_after_their_last_use(
    make_gateway: Callable[..., RunningGateway], upstreams: dict[str, str], clock: FakeClock
) -> None:
    gateway = make_gateway(clock=clock, upstreams=upstreams, stores={"response_items_ttl": 600})
    with sdk(gateway) as client:
        message = client.responses.create(model=MODEL, input=[FIRST]).output[0]
        clock.advance(500)
        client.responses.create(model=MODEL, input=[FIRST, reference(message), SECOND])
        clock.advance(500)  # 1000 s after it was rendered, 500 s after it was named
        client.responses.create(model=MODEL, input=[FIRST, reference(message), SECOND])
        clock.advance(601)
        with pytest.raises(openai.BadRequestError, match="600 s"):
            client.responses.create(model=MODEL, input=[FIRST, reference(message), SECOND])


def test_an_operator_may_keep_none(
    make_gateway: Callable[..., RunningGateway], upstreams: dict[str, str]
) -> None:
    gateway = make_gateway(upstreams=upstreams, stores={"response_items_bytes": 0})
    with sdk(gateway) as client:
        first = client.responses.create(model=MODEL, input=[FIRST])
        assert stored(first) is False  # nothing of it is kept
        message = first.output[0]
        with pytest.raises(openai.BadRequestError, match="keeps no output items"):
            client.responses.create(model=MODEL, input=[FIRST, reference(message), SECOND])


def test_replicas_sharing_redis_read_each_others_items(
    make_gateway: Callable[..., RunningGateway], upstreams: dict[str, str], redis_url: str
) -> None:
    one, two = (make_gateway(upstreams=upstreams, cache_url=redis_url) for _ in range(2))
    with sdk(one) as first, sdk(two) as second:
        message = first.responses.create(model=MODEL, input=[FIRST]).output[0]
        answer = second.responses.create(model=MODEL, input=[FIRST, reference(message), SECOND])
    assert "Italy" in answer.output_text


def test_previous_response_id_is_refused_saying_why(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input=[FIRST])
    with pytest.raises(openai.BadRequestError, match="only the output items") as caught:
        client.responses.create(model=MODEL, input=[SECOND], previous_response_id=first.id)
    assert "item_reference" in str(caught.value)
