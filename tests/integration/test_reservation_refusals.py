"""A request refused because its own reservation does not fit a token or cost rule with room left
(an SDK's default `max_tokens: 128000`, as the AI SDK sends Anthropic) is told so: 429
`reservation_exceeds_budget`, naming the field, the figures, the cap that fits now and whether
waiting helps; its headers agree (`x-ratelimit-remaining`, `Retry-After`, `x-should-retry`). A
window really spent keeps the plain `rate_limited`.

Clients are the official `anthropic` and `openai` SDKs, without retries (and httpx for a raw
Gemini body), against the fakes on loopback, on both backends (in-process counters; Redis).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

CLAUDE = "claude-sonnet-4-6"  # $3 / $15 per million tokens
SDK_DEFAULT = 128_000  # the AI SDK's max_tokens for Anthropic when the app sets no maxOutputTokens
HOUR = 3600
WINDOW_START = 1_800_000_000.0  # a multiple of 3600 and of 86400: hour and day windows start here


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic, fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    clock.now = WINDOW_START + 755  # 2845 s left of the hour
    return make_gateway(clock=clock, upstreams={"anthropic": claude.base_url, "openai": fake.base_url})


@pytest.fixture
def messages(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    # An explicit timeout: the SDK refuses a non-streamed 128k-token request on its default one.
    http = anthropic.DefaultHttpxClient(verify=False)  # plain HTTP on loopback: no CA bundle
    with anthropic.Anthropic(
        base_url=gateway.provider_url("anthropic"),
        api_key="sk-ant-test",
        max_retries=0,
        http_client=http,
        timeout=30,
    ) as client:
        yield client


def ask(client: anthropic.Anthropic, max_tokens: int = SDK_DEFAULT, prompt: str = "tiny") -> None:
    client.messages.create(
        model=CLAUDE, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}]
    )


def refused(client: anthropic.Anthropic, max_tokens: int = SDK_DEFAULT) -> anthropic.RateLimitError:
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(client, max_tokens)
    return caught.value


def error_of(raised: anthropic.APIStatusError) -> dict[str, Any]:
    body: Any = raised.body
    assert body["type"] == "error", body
    error: dict[str, Any] = body["error"]
    assert error["type"] == "rate_limit_error"  # what the SDKs read: a 429 as Anthropic's own
    assert "param" not in error  # Anthropic's shape names no field
    return error


def over_the_limit(message: str) -> float:
    """By how much the refusal says a request asking more than the whole limit may pass it."""
    found = re.search(r"up to about \$?([\d,.]+)(?: tokens)? past the limit", message)
    assert found is not None, message
    return float(found.group(1).replace(",", ""))


def fitting_cap(message: str) -> int:
    found = re.search(r"to at most ([\d,]+)", message)
    assert found is not None, message
    return int(found.group(1).replace(",", ""))


def test_a_128k_cap_over_a_token_limit_is_refused_saying_so_and_runs_alone_per_window(
    gateway: RunningGateway, messages: anthropic.Anthropic, clock: FakeClock, claude: FakeAnthropic
) -> None:
    gateway.configure(
        rate_limits=[{"name": "100k tokens/h", "limit": 100_000, "period": HOUR, "unit": "tokens"}]
    )
    ask(messages)  # alone in the window: it reserves the whole limit, and uses a few tokens
    raised = refused(messages)
    error, headers = error_of(raised), raised.response.headers
    assert error["code"] == "reservation_exceeds_budget"
    remaining = int(headers["x-ratelimit-remaining"])
    assert 99_900 < remaining < 100_000  # the truth: the window is nearly all left
    message = error["message"]
    assert "may use up to 128,000 output tokens (max_tokens)" in message
    assert f"more than the {remaining:,} tokens left of the rate limit 100k tokens/h" in message
    assert "maxOutputTokens" in message
    cap = fitting_cap(message)
    assert remaining - 50 < cap < remaining  # what is left, less the prompt's estimate
    assert "one such request per window" in message
    assert "in 2,845 s" in message
    # What holds, said precisely: admitted alone, such a request is charged what it uses, past the
    # limit by up to its cap and prompt less the limit (it said "the limit cannot be overshot").
    assert "cannot be overshot" not in message
    assert "and this does not fit" in message
    assert "reserving the whole limit, and is charged what it uses" in message
    assert 28_000 < over_the_limit(message) < 28_050
    # Waiting helps (a fresh window admits it), though not soon enough for an SDK to sleep on it.
    assert (headers["retry-after"], headers["x-should-retry"]) == ("2845", "false")
    assert headers["x-ratelimit-rule"] == "100k tokens/h"

    ask(messages, max_tokens=cap)  # the cap the refusal names is admitted now
    clock.advance(2845)  # the next window: one such request again, and only one
    ask(messages)
    assert error_of(refused(messages))["code"] == "reservation_exceeds_budget"
    assert len(claude.requests) == 3


def test_a_cap_that_fits_a_fresh_window_says_to_wait_for_it_and_a_spent_window_stays_rate_limited(
    gateway: RunningGateway, messages: anthropic.Anthropic, clock: FakeClock, claude: FakeAnthropic
) -> None:
    rule = {"limit": 130_000, "period": HOUR, "unit": "tokens"}
    gateway.configure(rate_limits=[rule])
    ask(messages, max_tokens=64, prompt=" ".join(["word"] * 3000))  # about 3,000 tokens used
    raised = refused(messages)
    error = error_of(raised)
    assert error["code"] == "reservation_exceeds_budget"
    remaining = int(raised.response.headers["x-ratelimit-remaining"])
    assert 126_000 < remaining < 127_000
    assert f"more than the {remaining:,} tokens left" in error["message"]
    assert "Or wait for the window to reset (in 2,845 s)." in error["message"]
    assert "one such request" not in error["message"]  # 128,000 fits a fresh window with room to spare
    assert raised.response.headers["retry-after"] == "2845"

    # The rule's `reserve` tells a spent window from a large cap: with 127,000 reserved for an
    # ordinary request (it sizes reservations only: the same bucket), what is left is spent.
    gateway.configure(rate_limits=[{**rule, "reserve": 127_000}])
    spent = error_of(refused(messages))
    assert spent["code"] == "rate_limited"
    assert spent["message"] == f"rate limit exceeded: {plain_label(rule)}"

    clock.advance(2845)
    ask(messages)  # a fresh window fits it
    assert len(claude.requests) == 2


def test_in_a_sliding_window_a_request_over_the_whole_limit_waits_for_the_window_to_empty(
    gateway: RunningGateway, messages: anthropic.Anthropic, clock: FakeClock
) -> None:
    """Reserving the whole limit, it fits only once no use is counted: Retry-After is the period
    (all use counted now has left by then), not the moment the oldest use leaves."""
    rule = {"limit": 100_000, "period": HOUR, "unit": "tokens", "technique": "sliding"}
    gateway.configure(rate_limits=[rule])
    ask(messages)
    clock.advance(100)
    raised = refused(messages)
    error = error_of(raised)
    assert error["code"] == "reservation_exceeds_budget"
    assert "at most one such request per 3,600 s" in error["message"]
    assert 28_000 < over_the_limit(error["message"]) < 28_050
    assert (raised.response.headers["retry-after"], raised.response.headers["x-should-retry"]) == (
        "3600",
        "false",
    )


def plain_label(rule: dict[str, Any]) -> str:
    return f"{rule['limit']} tokens per {rule['period']} s (fixed, per gateway)"


def test_a_cost_rule_says_it_in_dollars_at_the_models_output_price(
    gateway: RunningGateway, messages: anthropic.Anthropic, claude: FakeAnthropic
) -> None:
    gateway.configure(rate_limits=[{"name": "$1/day", "limit": 1.0, "period": 86400, "unit": "cost"}])
    ask(messages)  # $1.92 as sent: alone in the window, it reserves the whole dollar
    raised = refused(messages)
    error = error_of(raised)
    assert error["code"] == "reservation_exceeds_budget"
    left = float(raised.response.headers["x-ratelimit-remaining"])
    assert 0.999 < left < 1.0
    message = error["message"]
    assert "may cost up to $1.92" in message
    assert f"128,000 output tokens (max_tokens) at $15 per million output tokens of {CLAUDE}" in message
    assert "left of the rate limit $1/day" in message
    assert "more than the whole limit ($1)" in message
    assert 0.92 < over_the_limit(message) < 0.93  # $1.92 as sent, charged in full if it uses it
    cap = fitting_cap(message)
    assert 66_000 < cap < 66_667  # what is left at $15 per million, less the prompt's price
    ask(messages, max_tokens=cap)
    assert len(claude.requests) == 2


def test_a_cost_rule_names_the_web_searches_it_reserved(
    gateway: RunningGateway, messages: anthropic.Anthropic, claude: FakeAnthropic
) -> None:
    """The searches a web search tool allows are priced into the reservation (Anthropic: $10 per
    1,000), and the refusal counts them in what the request may cost and in the cap that fits."""
    gateway.configure(rate_limits=[{"name": "$1/day", "limit": 1.0, "period": 86400, "unit": "cost"}])
    ask(messages)  # $1.92 as sent: alone in the window, it reserves the whole dollar

    def search(max_tokens: int) -> None:
        messages.messages.create(
            model=CLAUDE,
            max_tokens=max_tokens,
            messages=[{"role": "user", "content": "tiny"}],
            tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 20}],
        )

    with pytest.raises(anthropic.RateLimitError) as caught:
        search(SDK_DEFAULT)
    message = error_of(caught.value)["message"]
    assert "may cost up to $2.12" in message  # $1.92 of tokens and $0.20 of searches
    assert "20 web searches (its search tool's max_uses)" in message
    cap = fitting_cap(message)
    assert 52_000 < cap < 53_334  # what is left less the searches' $0.20, at $15 per million
    search(cap)
    assert len(claude.requests) == 2


@pytest.mark.parametrize("answers", [1, 2])
def test_openais_shape_names_the_field_in_param(
    gateway: RunningGateway, fake: FakeOpenAI, answers: int
) -> None:
    """With `n` answers the cap counts once for each: the cap that fits is named per answer."""
    gateway.configure(rate_limits=[{"limit": 100_000, "period": HOUR, "unit": "tokens"}])
    hello: Any = [{"role": "user", "content": "tiny"}]
    each = SDK_DEFAULT // answers
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        ask_openai = functools.partial(
            client.chat.completions.create,
            model="gpt-4o-mini",
            messages=hello,
            max_completion_tokens=each,
            n=answers,
        )
        ask_openai()
        with pytest.raises(openai.RateLimitError) as caught:
            ask_openai()
        body: Any = caught.value.body
        assert (body["code"], body["param"]) == ("reservation_exceeds_budget", "max_completion_tokens")
        message = body["message"]
        for_each = f" {each:,} for each of {answers} answers" if answers > 1 else ""
        assert f"128,000 output tokens (max_completion_tokens{for_each})" in message
        assert "lower max_completion_tokens" in message
        remaining = int(caught.value.response.headers["x-ratelimit-remaining"])
        cap = fitting_cap(message)
        assert (remaining - 50) // answers < cap < remaining // answers
        ask_openai(max_completion_tokens=cap)  # admitted now
    assert len(fake.requests) == 2


# Thinks within a budget, which the compat translation adds to max_tokens (Claude 4.6 on thinks
# adaptively, without one): reasoning_effort "high" is 4,096 tokens, up to its most output, 64,000.
BUDGETED_CLAUDE = "anthropic/claude-sonnet-4-5"


@pytest.mark.parametrize(("limit", "max_tokens"), [(8_000, 4_096), (60_000, 62_000)])
def test_on_the_compat_endpoint_the_advice_leaves_room_for_the_thinking_budget_the_translation_adds(
    gateway: RunningGateway, claude: FakeAnthropic, limit: int, max_tokens: int
) -> None:
    """The advice names the client's field, not Anthropic's, and one answer (not a guess from the
    figures); the cap it names, sent, is admitted: also at 62,000, whose raised cap was cut at the
    model's 64,000 and so held less than the budget a lower cap gets whole."""
    gateway.configure(rate_limits=[{"name": "budget", "limit": limit, "period": HOUR, "unit": "tokens"}])
    hello: Any = [{"role": "user", "content": "tiny"}]
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0
    ) as client:
        chat = functools.partial(
            client.chat.completions.create, model=BUDGETED_CLAUDE, messages=hello, reasoning_effort="high"
        )
        chat(max_tokens=64)
        with pytest.raises(openai.RateLimitError) as caught:
            chat(max_tokens=max_tokens)
        body: Any = caught.value.body
        assert (body["code"], body["param"]) == ("reservation_exceeds_budget", "max_tokens")
        message = body["message"]
        sent = min(max_tokens + 4_096, 64_000)
        assert (
            f"{sent:,} output tokens (max_tokens {max_tokens:,}; anthropic gets max_tokens {sent:,}, "
            "which holds a thinking budget of 4,096)"
        ) in message
        assert "answers" not in message
        remaining = int(caught.value.response.headers["x-ratelimit-remaining"])
        cap = fitting_cap(message)
        assert remaining - 4_096 - 50 < cap < remaining - 4_096  # less the prompt's estimate
        chat(max_tokens=cap)  # admitted now
    assert claude.requests[-1].json["max_tokens"] == cap + 4_096
    assert len(claude.requests) == 2


def test_a_providers_own_cap_field_is_named_with_the_answers_it_asks_for(
    make_gateway: Callable[..., RunningGateway], gemini: FakeGemini, clock: FakeClock
) -> None:
    """Gemini reads `max_output_tokens` (the proto's name) in `generationConfig` as it reads
    `maxOutputTokens`, for each of `candidateCount` candidates: the advice names that field and
    the cap for each candidate."""
    clock.now = WINDOW_START + 755
    gateway = make_gateway(clock=clock, upstreams={"google-ai-studio": gemini.base_url})
    gateway.configure(rate_limits=[{"limit": 50_000, "period": HOUR, "unit": "tokens"}])
    url = f"{gateway.provider_url('google-ai-studio')}/v1beta/models/gemini-2.0-flash:generateContent"

    def generate(each: int) -> httpx.Response:
        config = {"max_output_tokens": each, "candidateCount": 2}
        body = {"contents": [{"role": "user", "parts": [{"text": "tiny"}]}], "generationConfig": config}
        return httpx.post(url, json=body, headers={"x-goog-api-key": "g-key"}, timeout=30)

    assert generate(40_000).status_code == 200  # alone in the window: it reserves the whole limit
    refusal = generate(40_000)
    assert refusal.status_code == 429, refusal.text
    message = refusal.json()["error"]["message"]
    assert "80,000 output tokens (generationConfig.max_output_tokens 40,000 for each of 2 answers)" in message
    assert "lower generationConfig.max_output_tokens" in message
    remaining = int(refusal.headers["x-ratelimit-remaining"])
    cap = fitting_cap(message)
    assert (remaining - 50) // 2 < cap <= remaining // 2  # for each of the two candidates
    assert generate(cap).status_code == 200  # admitted now
    assert len(gemini.requests) == 2
