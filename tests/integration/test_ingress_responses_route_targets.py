"""A dynamic route on the unified endpoint, for a client of OpenAI's Responses API: each OpenAI
target gets the request as it came, at OpenAI's `/responses` (its built-in tools and reasoning
fields reach it); the other targets get the chat request it means, their answers rendered back as
Responses, their output items kept for a later turn to name (pipeline/compat_route.py)."""

# ruff: noqa: F811  (the fixtures are test_ingress_route_targets')

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseCompletedEvent

from tests.conftest import RunningGateway
from tests.integration.test_ingress_route_targets import (  # noqa: F401  (fixtures)
    CLAUDE,
    FRESH,
    QUESTION,
    fakes,
    fallback,
    gateway,
)


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_an_alias_of_an_openai_model_reaches_openais_responses_api(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Through chat the built-in tool was a 400 and the reasoning summary was dropped."""
    gateway.configure(routes={"oa": {"model": "openai/gpt-4o-mini"}})
    tools: Any = [{"type": "web_search_preview"}]
    response = client.responses.create(
        model="dynamic/oa", input=QUESTION, tools=tools, reasoning={"effort": "low", "summary": "auto"}
    )
    assert QUESTION in response.output_text
    assert response.usage is not None
    [sent] = fakes["openai"].requests
    assert sent.path == "/v1/responses"
    assert (sent.json["model"], sent.json["tools"]) == ("gpt-4o-mini", tools)
    assert sent.json["reasoning"] == {"effort": "low", "summary": "auto"}
    [record] = gateway.wait_for_logs(1)
    assert (record["endpoint"], record["tokens_in"]) == ("responses", response.usage.input_tokens)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_fallback_to_anthropic_is_rendered_as_a_response_whose_items_are_kept(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any], streamed: bool
) -> None:
    gateway.configure(routes={"r": fallback("openai/error-500", CLAUDE), "claude": {"model": CLAUDE}})
    if streamed:
        events = list(client.responses.create(model="dynamic/r", input=QUESTION, stream=True))
        completed = events[-1]
        assert isinstance(completed, ResponseCompletedEvent)
        response = completed.response
    else:
        response = client.responses.create(model="dynamic/r", input=QUESTION)
    [native] = fakes["openai"].requests
    assert (native.path, native.json["input"]) == ("/v1/responses", QUESTION)
    [translated] = fakes["anthropic"].requests
    assert translated.path == "/v1/messages"
    assert translated.json["messages"] == [{"role": "user", "content": QUESTION}]
    assert response.id.startswith("resp_")
    assert QUESTION in response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.model_dump()["store"] is True
    # The rendered answer's message is kept: a later turn names it by id.
    [message] = response.output
    later: Any = [
        {"role": "user", "content": QUESTION},
        {"type": "item_reference", "id": message.id},
        {"role": "user", "content": "and of Italy"},
    ]
    assert "Italy" in client.responses.create(model="dynamic/claude", input=later).output_text
    said = fakes["anthropic"].requests[-1].json["messages"]
    assert response.output_text in str(said[1]["content"])
    records = gateway.wait_for_logs(2)
    first = next(record for record in records if record["status"] == 200 and len(record["attempts"]) == 2)
    assert [(a["provider"], a["status"]) for a in first["attempts"]] == [("openai", 500), ("anthropic", 200)]
    assert first["tokens_in"] == response.usage.input_tokens


def test_an_openai_target_gets_the_items_the_gateway_kept_in_place_of_their_references(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """OpenAI cannot read the items the gateway rendered: its targets got the references as sent
    (which OpenAI refuses), while the route's translated targets got the items. A reference the
    gateway does not keep (OpenAI's own item) goes as sent; the rendered reasoning item, Claude's
    thinking sealed by the gateway, is left out."""
    gateway.configure(routes={"claude": {"model": CLAUDE}, "r": fallback("openai/gpt-4o-mini", CLAUDE)})
    raw = client.responses.with_raw_response.create(
        model="dynamic/claude", input=QUESTION, reasoning={"effort": "low"}
    )
    reasoning, message = raw.http_response.json()["output"]
    assert (reasoning["type"], message["type"]) == ("reasoning", "message")
    # An item OpenAI wrote and keeps (OpenAI refuses a reference to one it never wrote).
    [openais] = client.responses.create(model="openai/gpt-4o-mini", input=QUESTION).output
    own: Any = {"type": "item_reference", "id": openais.id}
    later: Any = [
        {"role": "user", "content": QUESTION},
        {"type": "item_reference", "id": reasoning["id"]},
        {"type": "item_reference", "id": message["id"]},
        own,
        {"role": "user", "content": "and of Italy"},
    ]
    for model in ("dynamic/r", "openai/gpt-4o-mini"):  # a route's OpenAI target, and OpenAI's model
        assert "Italy" in client.responses.create(model=model, input=later).output_text
        sent = fakes["openai"].requests[-1]
        assert sent.path == "/v1/responses"
        # Without the gateway's id, which OpenAI never stored and would refuse ("Item with id
        # ... not found"); an item's link is its call_id, never its id.
        inlined = {k: v for k, v in message.items() if k != "id"}
        assert sent.json["input"] == [later[0], inlined, own, later[-1]]
    assert len(fakes["openai"].requests) == 3
    assert len(fakes["anthropic"].requests) == 1


def test_a_rendered_answers_items_are_kept_as_the_client_got_them(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """A route target's rendered stream had its items kept below the guardrails, as Claude said
    them: a later turn naming the message sent Claude the address the client never saw."""
    email = "alice.smith@example.com"
    redact: Any = {"pii": {"action": "redact", "entities": ["email"], "direction": "response"}}
    routes = {"r": fallback("openai/error-500", CLAUDE), "claude": {"model": CLAUDE}}
    gateway.configure(routes=routes, guardrails=redact)
    for streamed in (True, False):
        asked: Any = {"model": "dynamic/r", "input": f"write to {email}", "extra_headers": FRESH}
        if streamed:
            completed = list(client.responses.create(**asked, stream=True))[-1]
            assert isinstance(completed, ResponseCompletedEvent)
            response = completed.response
        else:
            response = client.responses.create(**asked)
        assert [r.json["messages"][0]["content"] for r in fakes["anthropic"].requests[-1:]] == [
            f"write to {email}"
        ]
        assert "[EMAIL_1]" in response.output_text
        assert email not in response.output_text
        [message] = response.output
        later: Any = [{"type": "item_reference", "id": message.id}, {"role": "user", "content": "thanks"}]
        client.responses.create(model="dynamic/claude", input=later, extra_headers=FRESH)
        said = fakes["anthropic"].requests[-1].json["messages"]
        assert said[0] == {"role": "assistant", "content": response.output_text}


def test_an_openai_target_gets_no_reasoning_item_the_gateway_sealed_sent_back_whole(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """A stateless client (Codex, the Agents SDK with store false) sends the whole output back: the
    reasoning item holding Claude's thinking, sealed by the gateway, went on to OpenAI, which
    refused the whole turn (404 "Item with id 'rs_…' not found.")."""
    gateway.configure(routes={"claude": {"model": CLAUDE}, "r": fallback("openai/gpt-4o-mini", CLAUDE)})
    asked: Any = {"input": QUESTION, "reasoning": {"effort": "low"}, "store": False}
    raw = client.responses.with_raw_response.create(model="dynamic/claude", **asked)
    reasoning, message = raw.http_response.json()["output"]
    assert reasoning["type"] == "reasoning"
    later: Any = [
        {"role": "user", "content": QUESTION},
        reasoning,
        message,
        {"role": "user", "content": "and of Italy"},
    ]
    for model in ("dynamic/r", "openai/gpt-4o-mini"):  # a route's OpenAI target, and OpenAI's model
        assert "Italy" in client.responses.create(model=model, input=later, store=False).output_text
        assert fakes["openai"].requests[-1].json["input"] == [later[0], message, later[-1]]
