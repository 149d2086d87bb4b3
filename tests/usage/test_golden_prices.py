"""Golden bills: a provider's answer, as it arrives on the wire (JSON or SSE), read by its adapter
and priced by the price table, against a cost worked out by hand from the provider's published
price list.

Each body, in golden/, has the shape the provider documents (field order, the events around the
usage; Google's CRLF event ends). The expected cost is written out as arithmetic over the published
prices (USD per million tokens), so a failure says which part of the bill went wrong. A streamed and
an unstreamed answer of the same call must bill the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.base import Provider, Route
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_compatible import OPENROUTER
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable

M = 1_000_000
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # prices that change with time are read at this instant
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable()


def recorded(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def read(provider: Provider, route: Route, body: bytes, streamed: bool) -> Usage:
    """The usage `provider` reads from a whole answer, as the outcome step reads it."""
    usage = provider.read_stream_usage(route, body) if streamed else provider.read_usage(route, body)
    assert usage is not None
    return usage


# Anthropic, https://docs.anthropic.com/en/docs/about-claude/pricing — Claude Sonnet 4.5, USD/MTok:
# up to 200K input tokens (cache reads and writes included) / beyond.
SONNET_INPUT, SONNET_INPUT_LONG = 3.00, 6.00
SONNET_WRITE_5M, SONNET_WRITE_5M_LONG = 3.75, 7.50
SONNET_WRITE_1H, SONNET_WRITE_1H_LONG = 6.00, 12.00
SONNET_READ, SONNET_READ_LONG = 0.30, 0.60
SONNET_OUTPUT, SONNET_OUTPUT_LONG = 15.00, 22.50

MESSAGES = Route("local", "v1/messages")


# anthropic.sse is the documented stream: its message_delta reports only the output count.
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_anthropic_reads_and_5_minute_and_1_hour_writes(table: PriceTable, streamed: bool) -> None:
    body = recorded("anthropic.sse") if streamed else recorded("anthropic.json")
    usage = read(ANTHROPIC, MESSAGES, body, streamed)
    assert usage == Usage(
        input_tokens=21 + 2600 + 4000,
        output_tokens=350,
        cached_tokens=4000,
        cache_write_tokens=2600,
        cache_write_1h_tokens=600,
    )
    expected = (
        21 * SONNET_INPUT
        + 2000 * SONNET_WRITE_5M
        + 600 * SONNET_WRITE_1H
        + 4000 * SONNET_READ
        + 350 * SONNET_OUTPUT
    ) / M
    assert expected == pytest.approx(0.017613)
    assert table.cost("anthropic", "claude-sonnet-4-5", usage) == pytest.approx(expected, rel=1e-12)
    assert table.cost("anthropic", "claude-sonnet-4-5-20250929", usage) == pytest.approx(expected, rel=1e-12)


# anthropic_long_context.sse is a newer stream: message_delta repeats the input side, cumulatively
# (the split by TTL is only in message_start).
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_anthropic_long_context_tier_counts_cache_reads_and_writes(table: PriceTable, streamed: bool) -> None:
    body = recorded("anthropic_long_context.sse") if streamed else recorded("anthropic_long_context.json")
    usage = read(ANTHROPIC, MESSAGES, body, streamed)
    assert usage == Usage(
        input_tokens=1500 + 60000 + 150000,  # 211,500 > 200K: every token at the long-context price
        output_tokens=2000,
        cached_tokens=150000,
        cache_write_tokens=60000,
        cache_write_1h_tokens=60000,
    )
    expected = (
        1500 * SONNET_INPUT_LONG
        + 60000 * SONNET_WRITE_1H_LONG
        + 150000 * SONNET_READ_LONG
        + 2000 * SONNET_OUTPUT_LONG
    ) / M
    assert expected == pytest.approx(0.864)
    assert table.cost("anthropic", "claude-sonnet-4-5", usage) == pytest.approx(expected, rel=1e-12)


# OpenAI, https://platform.openai.com/docs/pricing — USD/MTok: input, cached input, output
# (reasoning tokens are output tokens, billed as such).
O4_MINI_INPUT, O4_MINI_CACHED, O4_MINI_OUTPUT = 1.10, 0.275, 4.40
GPT_5_MINI_INPUT, GPT_5_MINI_CACHED, GPT_5_MINI_OUTPUT = 0.25, 0.025, 2.00

CHAT = Route("local", "chat/completions")
RESPONSES = Route("local", "responses")


# openai_chat.sse was asked with stream_options.include_usage: every chunk has "usage": null, and
# one more, with empty choices, carries it before [DONE].
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_openai_chat_cached_input_and_reasoning(table: PriceTable, streamed: bool) -> None:
    body = recorded("openai_chat.sse") if streamed else recorded("openai_chat.json")
    usage = read(OPENAI, CHAT, body, streamed)
    assert usage == Usage(
        input_tokens=2006,
        output_tokens=1200,
        cached_tokens=1920,
        reasoning_tokens=1024,
        cache_write_tokens=0,
        cache_write_1h_tokens=0,
    )
    expected = ((2006 - 1920) * O4_MINI_INPUT + 1920 * O4_MINI_CACHED + 1200 * O4_MINI_OUTPUT) / M
    assert expected == pytest.approx(0.0059026)
    assert table.cost("openai", "o4-mini", usage, at=AT) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_openai_responses_cached_input_and_reasoning(table: PriceTable, streamed: bool) -> None:
    body = recorded("openai_responses.sse") if streamed else recorded("openai_responses.json")
    usage = read(OPENAI, RESPONSES, body, streamed)
    assert usage == Usage(
        input_tokens=5000,
        output_tokens=900,
        cached_tokens=4096,
        reasoning_tokens=640,
        cache_write_tokens=0,
        cache_write_1h_tokens=0,
    )
    expected = ((5000 - 4096) * GPT_5_MINI_INPUT + 4096 * GPT_5_MINI_CACHED + 900 * GPT_5_MINI_OUTPUT) / M
    assert expected == pytest.approx(0.0021284)
    assert table.cost("openai", "gpt-5-mini", usage, at=AT) == pytest.approx(expected, rel=1e-12)


# OpenRouter resells Claude at Anthropic's prices (https://openrouter.ai/anthropic/claude-sonnet-4.5)
# and reports cache writes in prompt_tokens_details.cache_write_tokens
# (https://openrouter.ai/docs/use-cases/usage-accounting); its writes are 5-minute ones.
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_openrouter_claude_cache_writes(table: PriceTable, streamed: bool) -> None:
    body = recorded("openrouter_claude.sse") if streamed else recorded("openrouter_claude.json")
    usage = read(OPENROUTER, CHAT, body, streamed)
    assert usage == Usage(
        input_tokens=6021,
        output_tokens=300,
        cached_tokens=4000,
        cache_write_tokens=2000,
        cost_usd=0.013263,  # OpenRouter's `cost`: the charge it states, which the gateway logs
    )
    expected = (
        (6021 - 4000 - 2000) * SONNET_INPUT
        + 4000 * SONNET_READ
        + 2000 * SONNET_WRITE_5M
        + 300 * SONNET_OUTPUT
    ) / M
    assert expected == pytest.approx(0.013263)  # what OpenRouter itself reports as the cost
    assert table.cost("openrouter", "anthropic/claude-sonnet-4.5", usage) == pytest.approx(
        expected, rel=1e-12
    )


# Google, https://ai.google.dev/gemini-api/docs/pricing — Gemini 2.5 Pro, USD/MTok, prompts up to
# 200K tokens / longer: input, output (thinking included), context caching.
PRO_INPUT, PRO_INPUT_LONG = 1.25, 2.50
PRO_OUTPUT, PRO_OUTPUT_LONG = 10.00, 15.00
PRO_CACHED, PRO_CACHED_LONG = 0.125, 0.25
# Gemini 2.5 Flash (text): input, output (thinking included), context caching.
FLASH_INPUT, FLASH_OUTPUT, FLASH_CACHED = 0.30, 2.50, 0.03

PRO = "v1beta/models/gemini-2.5-pro"
FLASH_ON_VERTEX = "v1/projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash"


def gemini_call(model_path: str, streamed: bool) -> Route:
    """The route of a generateContent call, or of its stream as SSE."""
    if streamed:
        return Route("local", f"{model_path}:streamGenerateContent", "alt=sse")
    return Route("local", f"{model_path}:generateContent")


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_gemini_cached_content_and_thoughts(table: PriceTable, streamed: bool) -> None:
    body = recorded("gemini.sse" if streamed else "gemini.json")
    usage = read(GOOGLE_AI_STUDIO, gemini_call(PRO, streamed), body, streamed)
    assert usage == Usage(
        input_tokens=12000,
        output_tokens=400 + 1100,  # thoughts are billed as output
        cached_tokens=8000,
        reasoning_tokens=1100,
        cache_write_tokens=0,
        cache_write_1h_tokens=0,
    )
    expected = ((12000 - 8000) * PRO_INPUT + 8000 * PRO_CACHED + (400 + 1100) * PRO_OUTPUT) / M
    assert expected == pytest.approx(0.021)
    assert table.cost("google-ai-studio", "gemini-2.5-pro", usage) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_gemini_prompt_over_200k_tokens_is_billed_at_the_long_context_price(
    table: PriceTable, streamed: bool
) -> None:
    body = recorded("gemini_long_context.sse" if streamed else "gemini_long_context.json")
    usage = read(GOOGLE_AI_STUDIO, gemini_call(PRO, streamed), body, streamed)
    assert usage == Usage(
        input_tokens=250000,  # > 200K: every token at the long-context price, cached ones included
        output_tokens=800 + 1700,
        cached_tokens=200000,
        reasoning_tokens=1700,
        cache_write_tokens=0,
        cache_write_1h_tokens=0,
    )
    expected = (
        (250000 - 200000) * PRO_INPUT_LONG + 200000 * PRO_CACHED_LONG + (800 + 1700) * PRO_OUTPUT_LONG
    ) / M
    assert expected == pytest.approx(0.2125)
    assert table.cost("google-ai-studio", "models/gemini-2.5-pro", usage) == pytest.approx(
        expected, rel=1e-12
    )


# vertex_gemini.sse: Vertex AI's chunks carry usageMetadata without counts until the last one.
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_vertex_ai_gemini(table: PriceTable, streamed: bool) -> None:
    body = recorded("vertex_gemini.sse" if streamed else "vertex_gemini.json")
    usage = read(GOOGLE_VERTEX_AI, gemini_call(FLASH_ON_VERTEX, streamed), body, streamed)
    assert usage == Usage(
        input_tokens=3000,
        output_tokens=250 + 600,
        cached_tokens=2048,
        reasoning_tokens=600,
        cache_write_tokens=0,
        cache_write_1h_tokens=0,
    )
    expected = ((3000 - 2048) * FLASH_INPUT + 2048 * FLASH_CACHED + (250 + 600) * FLASH_OUTPUT) / M
    assert expected == pytest.approx(0.00247204)
    assert table.cost("google-vertex-ai", "gemini-2.5-flash", usage) == pytest.approx(expected, rel=1e-12)


# Claude on Vertex AI answers in Anthropic's format (https://docs.anthropic.com/en/api/claude-on-vertex-ai),
# at Anthropic's prices on the global endpoint.
CLAUDE_ON_VERTEX = "v1/projects/acme/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929"


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_vertex_ai_claude_reads_and_writes(table: PriceTable, streamed: bool) -> None:
    method = "streamRawPredict" if streamed else "rawPredict"
    body = recorded("anthropic.sse" if streamed else "anthropic.json")
    usage = read(GOOGLE_VERTEX_AI, Route("local", f"{CLAUDE_ON_VERTEX}:{method}"), body, streamed)
    assert usage == Usage(
        input_tokens=21 + 2600 + 4000,
        output_tokens=350,
        cached_tokens=4000,
        cache_write_tokens=2600,
        cache_write_1h_tokens=600,
    )
    expected = (
        21 * SONNET_INPUT
        + 2000 * SONNET_WRITE_5M
        + 600 * SONNET_WRITE_1H
        + 4000 * SONNET_READ
        + 350 * SONNET_OUTPUT
    ) / M
    assert table.cost("google-vertex-ai", "claude-sonnet-4-5@20250929", usage) == pytest.approx(
        expected, rel=1e-12
    )
