"""Fastly AI Accelerator's segments (`x-semantic-cache-key`) through the exact cache: "Only requests
that exceed the similarity threshold and whose x-semantic-cache-key matches are returned"
(https://docs.fastly.com/en/guides/about-the-ai-accelerator-page), so a segment never gets another
segment's answer from any cache, nor waits for another's identical request in flight. And the
answer tells a client that speaks Fastly whether it came from a cache, in `x-semantic-cache`.
Fastly's client example (`Fastly-Key`, host-in-path) with the openai SDK, one provider key shared."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_hosts import run_token
from tests.integration.test_semantic import ready, stored

QUESTION = "What is our internal discount code?"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    """The exact cache on; each upstream answer numbered, so whose answer a client got shows."""
    numbers = itertools.count(1)
    fake.answer = lambda text: f"answer {next(numbers)} to {text}"
    gateway = make_gateway(upstreams={"openai": fake.base_url}, host_overrides={"api.openai.com": fake.url})
    gateway.configure(cache_enabled=True, cache_ttl=300)
    return gateway


def fastly(gateway: RunningGateway) -> openai.OpenAI:
    """Fastly's Python example, the host changed: host-in-path, the gateway token in `Fastly-Key`."""
    return openai.OpenAI(
        base_url=f"{gateway.url}/api.openai.com/v1",
        api_key="sk-shared",
        default_headers={"Fastly-Key": run_token(gateway)},
        max_retries=0,
    )


def ask(client: openai.OpenAI, segment: str | None, **headers: str) -> tuple[str, str, str | None]:
    """The answer's text, `cf-aig-cache-status` and `x-semantic-cache` (None when absent)."""
    if segment is not None:
        headers["x-semantic-cache-key"] = segment
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}], extra_headers=headers
    )
    text = raw.parse().choices[0].message.content or ""
    return text, raw.headers["cf-aig-cache-status"], raw.headers.get("x-semantic-cache")


@pytest.mark.parametrize("semantic", [False, True], ids=["exact", "exact-and-semantic"])
def test_a_segment_never_gets_another_segments_exact_answer(
    gateway: RunningGateway, fake: FakeOpenAI, semantic: bool
) -> None:
    if semantic:  # as semantic-cache.md tells Fastly users to get Fastly's default
        gateway.configure(semantic_cache_enabled=True)
        ready(gateway)
    with fastly(gateway) as client:
        assert ask(client, "tenantA") == (f"answer 1 to {QUESTION}", "MISS", "MISS")
        if semantic:
            stored(gateway, 1)  # tenantA's question is in the semantic index too
        assert ask(client, "tenantB") == (f"answer 2 to {QUESTION}", "MISS", "MISS")
        assert ask(client, "tenantB") == (f"answer 2 to {QUESTION}", "HIT", "HIT")
        assert ask(client, "tenantA") == (f"answer 1 to {QUESTION}", "HIT", "HIT")
        # No segment is Fastly's `_default_`: one entry, apart from the named segments'.
        assert ask(client, None) == (f"answer 3 to {QUESTION}", "MISS", "MISS")
        assert ask(client, "_default_") == (f"answer 3 to {QUESTION}", "HIT", "HIT")
    assert len(fake.requests) == 3


def test_a_named_entry_is_kept_per_segment_and_purged_by_name_in_all(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """`cf-aig-cache-key` names an entry within a segment; a purge by that name reaches every segment's."""
    named = {"cf-aig-cache-key": "discounts"}
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-shared", max_retries=0) as client:
        assert ask(client, "tenantA", **named)[:2] == (f"answer 1 to {QUESTION}", "MISS")
        assert ask(client, "tenantB", **named)[:2] == (f"answer 2 to {QUESTION}", "MISS")
        assert ask(client, "tenantA", **named)[:2] == (f"answer 1 to {QUESTION}", "HIT")
        purged = gateway.http.delete(
            "/api/v1/accounts/local/gateways/default/cache", params={"key": "discounts"}
        )
        assert purged.json() == {"purged": 2}
        assert ask(client, "tenantB", **named)[:2] == (f"answer 3 to {QUESTION}", "MISS")
    assert len(fake.requests) == 3


def test_an_identical_request_of_another_segment_does_not_wait_for_one_in_flight(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """Identical misses in flight are coalesced: one goes upstream, the others wait for its answer.
    Another segment's must not wait: it would be served that answer."""
    messages: Any = [{"role": "user", "content": QUESTION}]
    with fastly(gateway) as client:
        paused = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            extra_headers={"x-semantic-cache-key": "tenantA", "x-fake-behavior": "pause-stream"},
        )
        with paused:
            next(iter(paused))  # tenantA's answer has begun: its request is in flight
            try:
                # Coalesced, it would wait for tenantA's stream, held until released below.
                other = client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    stream=True,
                    extra_headers={"x-semantic-cache-key": "tenantB"},
                    timeout=5,
                )
                text = streamed_text(other.parse())
            finally:
                fake.release()
            rest = streamed_text(paused)
    assert other.headers["cf-aig-cache-status"] == "MISS"
    assert text == f"answer 2 to {QUESTION}"
    assert rest.strip()
    assert len(fake.requests) == 2


def streamed_text(chunks: Any) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("host", {}),  # Fastly's form alone, no token: the `host_gateway`
        ("provider", {"Fastly-Key": "token"}),
        ("provider", {"x-semantic-threshold": "0.95"}),
        ("provider", {"x-settings-overrides": '{"semantic_cache_enabled": false}'}),
    ],
    ids=["host-in-path", "fastly-key", "x-semantic-threshold", "x-settings-overrides"],
)
def test_an_exact_hit_says_so_in_fastlys_header_to_a_client_that_speaks_fastly(
    gateway: RunningGateway, fake: FakeOpenAI, path: str, headers: dict[str, str]
) -> None:
    """Fastly's clients count hits by `x-semantic-cache`; Fastly has one cache, so an exact hit is
    a HIT there too, and anything not served from a cache (a bypass too) a MISS."""
    if "Fastly-Key" in headers:
        headers = {"Fastly-Key": run_token(gateway)}
    base_url = f"{gateway.url}/api.openai.com/v1" if path == "host" else gateway.provider_url("openai")
    with openai.OpenAI(base_url=base_url, api_key="sk-shared", max_retries=0) as client:
        assert ask(client, None, **headers) == (f"answer 1 to {QUESTION}", "MISS", "MISS")
        assert ask(client, None, **headers) == (f"answer 1 to {QUESTION}", "HIT", "HIT")
        skipped = ask(client, None, **headers, **{"cf-aig-skip-cache": "true"})
        assert skipped == (f"answer 2 to {QUESTION}", "BYPASS", "MISS")
    records = gateway.wait_for_logs(3)
    assert [record["cache_status"] for record in records] == ["BYPASS", "HIT", "MISS"]
    # A client that speaks only Cloudflare's headers hears only Cloudflare's.
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-other", max_retries=0) as client:
        assert ask(client, None) == (f"answer 3 to {QUESTION}", "MISS", None)
        assert ask(client, None) == (f"answer 3 to {QUESTION}", "HIT", None)
