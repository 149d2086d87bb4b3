"""Anthropic's prompt caching through the unified endpoint: `cache_control` written in the OpenAI
schema the way OpenRouter and LiteLLM take it (on a content part, a message, a tool), sent with the
official `openai` SDK, reaches Anthropic on the blocks it marks; the answer's usage says what was
read from the cache (`cached_tokens`) and written to it (`cache_write_tokens`), and the log bills
both at their prices. The fake Anthropic caches as Anthropic does (see its docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types import CompletionUsage

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "claude-sonnet-4-6"
# https://docs.anthropic.com/en/docs/about-claude/pricing — Claude Sonnet 4.6, USD per million tokens.
INPUT, WRITE_5M, WRITE_1H, READ, OUTPUT = 3.00, 3.75, 6.00, 0.30, 15.00
BOOK = "It was the best of times, it was the worst of times. " * 30
EPHEMERAL: Any = {"type": "ephemeral"}


def system(control: Any) -> Any:
    return {"role": "system", "content": [{"type": "text", "text": BOOK, "cache_control": control}]}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": claude.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


def ask(client: openai.OpenAI, messages: list[Any], streamed: bool, **options: Any) -> CompletionUsage:
    """The usage of one answer, whole or streamed (with include_usage)."""
    model = f"anthropic/{MODEL}"
    usage: CompletionUsage | None
    if not streamed:
        usage = client.chat.completions.create(model=model, messages=messages, **options).usage
    else:
        chunks = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **options
        )
        usage = list(chunks)[-1].usage
    assert usage is not None
    return usage


def cache(usage: CompletionUsage) -> tuple[int, int]:
    """(read, written): `cached_tokens` and `cache_write_tokens`, as OpenRouter reports them."""
    details = usage.prompt_tokens_details
    assert details is not None
    assert details.cached_tokens is not None
    return details.cached_tokens, details.cache_write_tokens or 0


def billed(usage: CompletionUsage, write_price: float) -> float:
    read, written = cache(usage)
    uncached = usage.prompt_tokens - read - written
    return (uncached * INPUT + written * write_price + read * READ + usage.completion_tokens * OUTPUT) / 1e6


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_marked_system_prompt_is_written_then_read_and_billed_so(
    client: openai.OpenAI, gateway: RunningGateway, claude: FakeAnthropic, streamed: bool
) -> None:
    first = ask(client, [system(EPHEMERAL), {"role": "user", "content": "Who speaks?"}], streamed)
    second = ask(client, [system(EPHEMERAL), {"role": "user", "content": "Which city?"}], streamed)
    sent = claude.requests[-1].json
    assert sent["system"] == [{"type": "text", "text": BOOK, "cache_control": EPHEMERAL}]
    book = len(BOOK.split())
    assert (cache(first), cache(second)) == ((0, book), (book, 0))
    assert first.prompt_tokens == second.prompt_tokens > book  # reads and writes are prompt tokens

    newest, oldest = gateway.wait_for_logs(2)[:2]
    assert (oldest["cache_write_tokens"], oldest["cached_tokens"]) == (book, 0)
    assert (newest["cache_write_tokens"], newest["cached_tokens"]) == (0, book)
    assert oldest["cost_usd"] == pytest.approx(billed(first, WRITE_5M), rel=1e-9)
    assert newest["cost_usd"] == pytest.approx(billed(second, WRITE_5M), rel=1e-9)


def test_a_conversation_reads_what_its_last_turn_wrote(client: openai.OpenAI, claude: FakeAnthropic) -> None:
    """LiteLLM's form for a conversation: the last user message marked, each turn."""
    asked = {"role": "user", "content": "Who speaks in the book below? " + BOOK}
    first = ask(client, [{**asked, "cache_control": EPHEMERAL}], streamed=True)
    turn = [asked, {"role": "assistant", "content": "Nobody."}]
    second = ask(
        client, [*turn, {"role": "user", "content": "Are you sure?", "cache_control": EPHEMERAL}], False
    )
    sent = claude.requests[-1].json["messages"]
    assert sent[-1]["content"] == [{"type": "text", "text": "Are you sure?", "cache_control": EPHEMERAL}]
    assert cache(first)[0] == 0
    assert cache(second)[0] == cache(first)[1] > len(BOOK.split())  # the first turn, read back


@pytest.mark.parametrize("form", ["whole", "streamed", "streamed with usage"])
def test_an_hour_long_breakpoint_and_a_marked_tool(
    client: openai.OpenAI, gateway: RunningGateway, claude: FakeAnthropic, form: str
) -> None:
    hour: Any = {"type": "ephemeral", "ttl": "1h"}
    tool: Any = {"type": "function", "function": {"name": "get_time"}, "cache_control": hour}
    messages = [system(hour), {"role": "user", "content": "Who?"}]
    model = f"anthropic/{MODEL}"
    if form == "whole":
        client.chat.completions.create(model=model, messages=messages, tools=[tool])
    else:
        usage: Any = {"stream_options": {"include_usage": True}} if form == "streamed with usage" else {}
        list(
            client.chat.completions.create(model=model, messages=messages, tools=[tool], stream=True, **usage)
        )
    sent = claude.requests[-1].json
    assert (sent["tools"][0]["cache_control"], sent["system"][0]["cache_control"]) == (hour, hour)
    record = gateway.wait_for_logs(1)[0]
    written = record["cache_write_tokens"]
    assert (written, record["cached_tokens"]) == (len(BOOK.split()), 0)
    # Billed at the hour's write price, from the usage Anthropic reported.
    uncached = record["tokens_in"] - written
    cost = (uncached * INPUT + written * WRITE_1H + record["tokens_out"] * OUTPUT) / 1e6
    assert record["cost_usd"] == pytest.approx(cost, rel=1e-9)


def test_more_than_four_breakpoints_are_a_400_naming_cache_control(
    client: openai.OpenAI, claude: FakeAnthropic
) -> None:
    parts: Any = [{"type": "text", "text": f"part {n}", "cache_control": EPHEMERAL} for n in range(5)]
    with pytest.raises(openai.BadRequestError, match="cache_control: Anthropic takes at most 4") as refused:
        client.chat.completions.create(
            model=f"anthropic/{MODEL}", messages=[{"role": "user", "content": parts}]
        )
    assert refused.value.status_code == 400
    assert claude.requests == []  # refused before it was sent, as Anthropic would have refused it
