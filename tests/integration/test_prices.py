"""What the gateway logs as a request's cost matches the provider's bill: Anthropic's cache reads and
its 5-minute and 1-hour cache writes, and its web searches, streamed and not, through the official
SDK on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import anthropic
import orjson
import pytest
from anthropic.types import Message, MessageParam, TextBlockParam, ToolUnionParam, Usage

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "claude-sonnet-4-6"
# https://docs.anthropic.com/en/docs/about-claude/pricing — Claude Sonnet 4.6, USD per million tokens.
INPUT, WRITE_5M, WRITE_1H, READ, OUTPUT = 3.00, 3.75, 6.00, 0.30, 15.00
# https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool — $10 per 1,000
# searches; web fetches cost only their tokens.
WEB_SEARCH = 10.00 / 1000
SEARCH_TOOLS: list[ToolUnionParam] = [
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2},
]
# Two breakpoints, the longer TTL first (as Anthropic requires): an hour-long prefix, then 5 minutes.
SYSTEM: list[TextBlockParam] = [
    {
        "type": "text",
        "text": "You are a patient geography tutor. " * 40,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    },
    {
        "type": "text",
        "text": "Today's lesson covers the capitals of Europe. " * 15,
        "cache_control": {"type": "ephemeral"},
    },
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAnthropic) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    http = anthropic.DefaultHttpxClient(verify=False)  # plain HTTP on loopback
    with anthropic.Anthropic(
        base_url=gateway.provider_url("anthropic"), api_key="sk-ant-test", max_retries=0, http_client=http
    ) as proxied:
        yield proxied


def ask(
    client: anthropic.Anthropic,
    question: str,
    streamed: bool,
    headers: Mapping[str, str] | None = None,
    tools: list[ToolUnionParam] | anthropic.Omit = anthropic.omit,
) -> Message:
    messages: list[MessageParam] = [{"role": "user", "content": question}]
    if not streamed:
        return client.messages.create(
            model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, extra_headers=headers, tools=tools
        )
    with client.messages.stream(
        model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, extra_headers=headers, tools=tools
    ) as stream:
        return stream.get_final_message()


def writes(usage: Usage) -> tuple[int, int]:
    """(5-minute, 1-hour) cache writes as Anthropic reports them."""
    assert usage.cache_creation is not None
    return usage.cache_creation.ephemeral_5m_input_tokens, usage.cache_creation.ephemeral_1h_input_tokens


def billed(usage: Usage) -> float:
    """Anthropic's bill for `usage`, at the published prices."""
    written_5m, written_1h = writes(usage)
    return (
        usage.input_tokens * INPUT
        + written_5m * WRITE_5M
        + written_1h * WRITE_1H
        + (usage.cache_read_input_tokens or 0) * READ
        + usage.output_tokens * OUTPUT
    ) / 1e6


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_cache_writes_are_billed_by_their_ttl_and_reads_at_the_read_price(
    gateway: RunningGateway, client: anthropic.Anthropic, streamed: bool
) -> None:
    first = ask(client, "what is the capital of France", streamed)
    second = ask(client, "what is the capital of Spain", streamed)
    written_5m, written_1h = writes(first.usage)
    assert written_5m > 0
    assert written_1h > written_5m  # the hour-long prefix is the longer one
    assert second.usage.cache_read_input_tokens == written_5m + written_1h

    newest, oldest = gateway.wait_for_logs(2)[:2]
    assert oldest["stream"] is newest["stream"] is streamed
    assert oldest["cost_usd"] == pytest.approx(billed(first.usage), rel=1e-9)
    assert newest["cost_usd"] == pytest.approx(billed(second.usage), rel=1e-9)
    assert oldest["cache_write_tokens"] == written_5m + written_1h
    assert (newest["cache_write_tokens"], newest["cached_tokens"]) == (0, written_5m + written_1h)
    # Billed as plain input, the hour-long write would have cost less than it does.
    as_input = (
        first.usage.input_tokens + written_5m + written_1h
    ) * INPUT + first.usage.output_tokens * OUTPUT
    assert oldest["cost_usd"] > as_input / 1e6


def test_custom_cost_header_prices_cache_writes_and_reads(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    # Cloudflare's cf-aig-custom-cost: negotiated USD per token, one price for writes of any TTL.
    price = {
        "per_token_in": 2e-6,
        "per_token_out": 8e-6,
        "per_cache_read_token": 2e-7,
        "per_cache_write_token": 3e-6,
    }
    headers = {"cf-aig-custom-cost": orjson.dumps(price).decode()}
    first = ask(client, "what is the capital of Italy", streamed=False, headers=headers)
    second = ask(client, "what is the capital of Greece", streamed=True, headers=headers)

    def negotiated(usage: Usage) -> float:
        written = sum(writes(usage))
        return (
            usage.input_tokens * price["per_token_in"]
            + written * price["per_cache_write_token"]
            + (usage.cache_read_input_tokens or 0) * price["per_cache_read_token"]
            + usage.output_tokens * price["per_token_out"]
        )

    newest, oldest = gateway.wait_for_logs(2)[:2]
    assert oldest["cost_usd"] == pytest.approx(negotiated(first.usage), rel=1e-9)
    assert newest["cost_usd"] == pytest.approx(negotiated(second.usage), rel=1e-9)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_web_searches_are_billed_per_search_and_web_fetches_by_their_tokens(
    gateway: RunningGateway, client: anthropic.Anthropic, streamed: bool
) -> None:
    message = ask(client, "what happened in Paris today", streamed, tools=SEARCH_TOOLS)
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 3
    assert message.usage.server_tool_use.web_fetch_requests == 2

    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is streamed
    written = sum(writes(message.usage))
    assert (record["tokens_in"], record["tokens_out"]) == (
        message.usage.input_tokens + written,
        message.usage.output_tokens,
    )
    assert record["cost_usd"] == pytest.approx(billed(message.usage) + 3 * WEB_SEARCH, rel=1e-9)


def test_a_cost_rule_is_charged_the_web_search_fee(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    # Tokens alone cost well under a cent here; three searches, three cents: over the limit.
    budget = {"name": "searches", "limit": 0.02, "period": 86400, "unit": "cost", "scope": "gateway"}
    gateway.configure(rate_limits=[budget])
    message = ask(client, "what happened in Rome today", streamed=False, tools=SEARCH_TOOLS)
    with pytest.raises(anthropic.RateLimitError):
        ask(client, "what happened in Madrid today", streamed=False)
    record = gateway.wait_for_logs(2)[-1]
    assert record["cost_usd"] == pytest.approx(billed(message.usage) + 3 * WEB_SEARCH, rel=1e-9)
    assert billed(message.usage) < 0.02 < record["cost_usd"]


def test_a_cost_rule_reserves_the_web_searches_a_request_allows(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    # One answer with three searches (about 0.034 USD) leaves about 0.016 of 0.05: the tokens of
    # another question fit, the ten searches reserved for a search tool without max_uses do not.
    budget = {"name": "searches", "limit": 0.05, "period": 86400, "unit": "cost", "scope": "gateway"}
    gateway.configure(rate_limits=[budget])
    ask(client, "what happened in Rome today", streamed=False, tools=SEARCH_TOOLS)
    uncapped: list[ToolUnionParam] = [{"type": "web_search_20250305", "name": "web_search"}]
    with pytest.raises(anthropic.RateLimitError):
        ask(client, "what happened in Madrid today", streamed=False, tools=uncapped)
    ask(client, "what happened in Madrid today", streamed=False)
    assert sum(record["cost_usd"] or 0 for record in gateway.wait_for_logs(3)) <= 0.05  # the refusal: None
