"""A dynamic route on the unified endpoint, for a client of Anthropic's Messages API: each target of
Anthropic gets the request as it came, untranslated (`cache_control`, server tools, a thinking
budget reach it); the other targets get the chat request it means, their answers rendered back as
Messages; a target that cannot take the request is left out (pipeline/compat_route.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "what is the capital of France"
CLAUDE = "anthropic/claude-sonnet-4-6"
# 250 words: the fake counts a word a token, and caches the prompt up to a `cache_control` block.
SYSTEM: Any = [
    {"type": "text", "text": "You are a helpful assistant. " * 50, "cache_control": {"type": "ephemeral"}}
]
ASKED: Any = [{"role": "user", "content": QUESTION}]
WEB_SEARCH: Any = {"type": "web_search_20250305", "name": "web_search"}
FRESH = {"cf-aig-skip-cache": "true"}
CARD_QUESTION: Any = {"role": "user", "content": "card 5555 5555 5555 4444 ok"}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an:
        yield {"openai": oa, "anthropic": an}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def fallback(*models: str) -> dict[str, Any]:
    return {"fallback": [{"model": model, "max_attempts": 1} for model in models]}


def test_an_alias_of_an_anthropic_model_keeps_prompt_caching(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Through chat the system prompt's `cache_control` was lost: every call paid the whole
    prompt (258 input tokens) instead of writing the cache once and reading it after."""
    gateway.configure(routes={"alias": {"model": CLAUDE}})
    first, second = (
        client.messages.create(
            model="dynamic/alias", max_tokens=50, system=SYSTEM, messages=ASKED, extra_headers=FRESH
        )
        for _ in range(2)
    )
    sent = fakes["anthropic"].requests
    assert [(r.path, r.json["model"], r.json["system"]) for r in sent] == [
        ("/v1/messages", "claude-sonnet-4-6", SYSTEM)
    ] * 2
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (250, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, 250)
    assert second.usage.input_tokens == first.usage.input_tokens < 250  # the rest of the prompt
    assert sorted(record["cached_tokens"] for record in gateway.wait_for_logs(2)) == [0, 250]


def test_server_tools_and_a_thinking_budget_reach_anthropic_through_a_route(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Through chat the web search tool was a 400 and the budget became adaptive thinking."""
    gateway.configure(routes={"alias": {"model": CLAUDE}})
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    message = client.messages.create(
        model="dynamic/alias", max_tokens=2000, thinking=thinking, tools=[WEB_SEARCH], messages=ASKED
    )
    [sent] = fakes["anthropic"].requests
    assert (sent.json["thinking"], sent.json["tools"], sent.json["max_tokens"]) == (
        thinking,
        [WEB_SEARCH],
        2000,
    )
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1


@pytest.mark.parametrize("streamed", [False, True])
def test_a_fallback_sends_anthropic_the_request_as_it_came_and_openai_its_translation(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any], streamed: bool
) -> None:
    gateway.configure(routes={"r": fallback("anthropic/error-500", "openai/gpt-4o-mini")}, cache_enabled=True)

    def ask() -> tuple[str, int, str]:
        asked: Any = {"model": "dynamic/r", "max_tokens": 50, "system": SYSTEM, "messages": ASKED}
        if not streamed:
            raw = client.messages.with_raw_response.create(**asked)
            message = raw.parse()
            return message.content[0].text, message.usage.input_tokens, raw.headers["cf-aig-cache-status"]
        with client.messages.stream(**asked) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
            return text, final.usage.input_tokens, stream.response.headers["cf-aig-cache-status"]

    text, input_tokens, status = ask()
    [native] = fakes["anthropic"].requests
    assert native.json["system"] == SYSTEM
    [chat] = fakes["openai"].requests
    assert chat.path == "/v1/chat/completions"
    assert chat.json["max_completion_tokens"] == 50
    assert b"cache_control" not in chat.body
    assert QUESTION in text
    assert input_tokens > 0
    assert status == "MISS"
    # The answer was stored as the client got it (a Messages answer) and serves it again.
    again, again_tokens, again_status = ask()
    assert (again, again_tokens, again_status) == (text, input_tokens, "HIT")
    assert len(fakes["openai"].requests) == 1
    records = sorted(gateway.wait_for_logs(2), key=lambda record: record["cache_status"] == "HIT")
    assert [(r["tokens_in"], r["cache_status"]) for r in records] == [
        (input_tokens, "MISS"),
        (input_tokens, "HIT"),
    ]
    assert records[0]["provider"] == "openai"


def test_a_target_that_cannot_take_the_request_is_left_out(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """OpenAI's chat cannot carry Anthropic's web search: the route goes to Claude alone, and the
    log says why OpenAI was not tried. It refused the whole request."""
    gateway.configure(routes={"r": fallback("openai/gpt-4o-mini", CLAUDE), "chat_only": fallback("openai/x")})
    raw = client.messages.with_raw_response.create(
        model="dynamic/r", max_tokens=50, tools=[WEB_SEARCH], messages=ASKED
    )
    assert raw.headers["cf-aig-step"] == "0"
    assert raw.headers["cf-aig-model"] == "claude-sonnet-4-6"
    assert QUESTION in raw.parse().content[0].text
    assert fakes["openai"].requests == []
    [sent] = fakes["anthropic"].requests
    assert sent.json["tools"] == [WEB_SEARCH]
    [record] = gateway.wait_for_logs(1)
    left_out, answered = record["attempts"]
    assert (left_out["step"], left_out["provider"], left_out["status"]) == (0, "openai", 0)
    assert left_out["error"].startswith("left out: openai/gpt-4o-mini (fallback[0]) cannot take this request")
    assert "web_search_20250305" in left_out["error"]
    assert (answered["provider"], answered["status"]) == ("anthropic", 200)
    # A route none of whose targets can take it refuses it, naming the field, as before.
    with pytest.raises(anthropic.BadRequestError, match=r"tools\.0") as refused:
        client.messages.create(model="dynamic/chat_only", max_tokens=50, tools=[WEB_SEARCH], messages=ASKED)
    assert refused.value.status_code == 400
    assert fakes["openai"].requests == []


def test_a_chat_request_goes_to_the_targets_that_can_honour_it(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Anthropic takes no temperature above 1: that target is left out, not the whole request."""
    gateway.configure(routes={"r": fallback(CLAUDE, "openai/gpt-4o-mini")})
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as chat:
        completion = chat.chat.completions.create(model="dynamic/r", temperature=1.5, messages=ASKED)
    assert QUESTION in (completion.choices[0].message.content or "")
    assert fakes["anthropic"].requests == []
    assert fakes["openai"].requests[0].json["temperature"] == 1.5
    [record] = gateway.wait_for_logs(1)
    assert [(a["provider"], a["status"]) for a in record["attempts"]] == [("anthropic", 0), ("openai", 200)]
    assert "temperature" in record["attempts"][0]["error"]


def test_a_count_through_a_route_that_starts_at_anthropic_is_anthropics(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    gateway.configure(routes={"r": fallback(CLAUDE, "openai/gpt-4o-mini")})
    counted = client.messages.count_tokens(model="dynamic/r", system=SYSTEM, messages=ASKED)
    [sent] = fakes["anthropic"].requests
    assert (sent.path, sent.json["model"], sent.json["system"]) == (
        "/v1/messages/count_tokens",
        "claude-sonnet-4-6",
        SYSTEM,
    )
    assert counted.input_tokens == 250 + len(QUESTION.split()) + 4  # the fake's count


@pytest.mark.parametrize("streamed", [False, True])
def test_a_rendered_answer_passes_the_guardrails_as_the_clients_api_reads_it(
    client: anthropic.Anthropic, gateway: RunningGateway, fakes: dict[str, Any], streamed: bool
) -> None:
    """A target's answer rendered as Messages by its step is read as Messages by the guardrails."""
    redact = {"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}}
    gateway.configure(routes={"r": fallback("anthropic/error-500", "openai/gpt-4o-mini")}, guardrails=redact)
    asked: Any = {"model": "dynamic/r", "max_tokens": 50, "system": SYSTEM, "messages": [CARD_QUESTION]}
    if streamed:
        with client.messages.stream(**asked) as stream:
            text = "".join(stream.text_stream)
    else:
        text = client.messages.create(**asked).content[0].text
    assert text == "echo: card [CREDIT_CARD_1] ok"
    assert fakes["anthropic"].requests[0].json["system"] == SYSTEM  # as it came
    assert fakes["openai"].requests[0].path == "/v1/chat/completions"
