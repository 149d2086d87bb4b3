"""The exact cache through the gateway, with the official SDK and raw HTTP against the fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "what is a cache"}]
CHAT = "/v1/local/default/openai/chat/completions"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url})
    enable_cache(gateway, "default")
    return gateway


def enable_cache(gateway: RunningGateway, slug: str, **settings: Any) -> None:
    response = gateway.http.patch(
        f"/api/v1/accounts/local/gateways/{slug}", json={"settings": {"cache_enabled": True, **settings}}
    )
    assert response.status_code == 200, response.text


def sdk(gateway: RunningGateway, slug: str = "default") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0)


def post(gateway: RunningGateway, body: bytes, **headers: str) -> httpx.Response:
    return gateway.http.post(CHAT, content=body, headers={"content-type": "application/json", **headers})


def test_identical_request_is_a_hit_and_reaches_the_upstream_once(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    client = sdk(gateway)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert first.headers["cf-aig-cache-status"] == "MISS"
    assert second.headers["cf-aig-cache-status"] == "HIT"
    assert second.http_response.content == first.http_response.content
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    assert len(fake.requests) == 1
    hit, miss = gateway.wait_for_logs(2)
    assert (hit["cache_status"], miss["cache_status"]) == ("HIT", "MISS")
    assert hit["cost_usd"] == 0
    assert miss["cost_usd"] > 0
    assert hit["tokens_out"] == miss["tokens_out"]  # tokens served from the cache
    assert hit["cache_saved_ms"] == pytest.approx(miss["latency_ms"], rel=0.5)


def test_key_order_and_whitespace_do_not_matter(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    one = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}'
    two = b'{"temperature":0,"messages":[{"content":"hi","role":"user"}],\n "model":"gpt-4o"}'
    assert post(gateway, one).headers["cf-aig-cache-status"] == "MISS"
    assert post(gateway, two).headers["cf-aig-cache-status"] == "HIT"
    assert post(gateway, one.replace(b'"hi"', b'"ho"')).headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == 2


def test_entries_never_cross_gateways(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "other"}).status_code == 201
    enable_cache(gateway, "other")
    sdk(gateway).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    other = sdk(gateway, "other").chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert other.headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == 2


def test_ttl_expiry_follows_the_clock(gateway: RunningGateway, fake: FakeOpenAI, clock: FakeClock) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "ttl"}]}'
    assert post(gateway, body, **{"cf-aig-cache-ttl": "120"}).headers["cf-aig-cache-status"] == "MISS"
    clock.advance(119)
    assert post(gateway, body).headers["cf-aig-cache-status"] == "HIT"
    clock.advance(2)
    assert post(gateway, body).headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == 2


def test_a_ttl_header_caches_even_when_the_gateway_does_not(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'
    assert "cf-aig-cache-status" not in post(gateway, body).headers  # caching is off here
    assert post(gateway, body, **{"cf-aig-cache-ttl": "60"}).headers["cf-aig-cache-status"] == "MISS"
    assert post(gateway, body, **{"cf-aig-cache-ttl": "60"}).headers["cf-aig-cache-status"] == "HIT"


def test_cloudflares_deprecated_cache_headers_still_work(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """`cf-cache-ttl` and `cf-skip-cache`, Cloudflare's former names, "will still function"."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "old names"}]}'
    assert post(gateway, body, **{"cf-cache-ttl": "120"}).headers["cf-aig-cache-status"] == "MISS"
    assert post(gateway, body, **{"cf-cache-ttl": "120"}).headers["cf-aig-cache-status"] == "HIT"
    skipped = post(gateway, body, **{"cf-cache-ttl": "120", "cf-skip-cache": "true"})
    assert skipped.headers["cf-aig-cache-status"] == "BYPASS"
    assert post(gateway, body, **{"cf-cache-ttl": "1h"}).status_code == 400  # read as the new one is
    assert len(fake.requests) == 2


def test_a_ttl_of_zero_neither_looks_up_nor_stores(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """`cf-aig-cache-ttl: 0`, as Cloudflare's universal example turns caching off for one request."""
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "zero"}]}'
    post(gateway, body)
    off = post(gateway, body, **{"cf-aig-cache-ttl": "0"})
    assert (off.status_code, off.headers["cf-aig-cache-status"]) == (200, "BYPASS")
    other = body.replace(b"zero", b"none")
    assert post(gateway, other, **{"cf-aig-cache-ttl": "0"}).headers["cf-aig-cache-status"] == "BYPASS"
    assert post(gateway, other).headers["cf-aig-cache-status"] == "MISS"  # nothing was stored
    assert len(fake.requests) == 4


def test_a_cache_key_alone_caches_for_five_minutes_where_the_gateway_does_not(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    """Cloudflare: "If caching is not enabled for the gateway, responses will be cached for 5
    minutes by default"."""
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url})
    one = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "one"}]}'
    two = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "two"}]}'
    named = {"cf-aig-cache-key": "faq"}
    assert post(gateway, one, **named).headers["cf-aig-cache-status"] == "MISS"
    clock.advance(299)
    assert post(gateway, two, **named).headers["cf-aig-cache-status"] == "HIT"
    clock.advance(2)
    assert post(gateway, two, **named).headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == 2


def universal_step(model: str, **own: str) -> dict[str, Any]:
    return {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-test", **own},
        "query": {"model": model, "messages": MESSAGES},
    }


def test_a_universal_steps_own_cache_headers_decide_for_its_answer(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """Cloudflare's universal example: the request caches for an hour, its fallback step sets
    `cf-aig-cache-ttl: 0`; provider-level headers "take precedence over all other configurations"."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})

    def ask(steps: list[dict[str, Any]], **headers: str) -> str:
        response = gateway.http.post("/v1/local/default", json=steps, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["cf-aig-cache-status"]

    hour = {"cf-aig-cache-ttl": "3600"}
    fallback = [universal_step("error-500"), universal_step("gpt-4o", **{"cf-aig-cache-ttl": "0"})]
    assert [ask(fallback, **hour), ask(fallback, **hour)] == ["MISS", "MISS"]  # the fallback's: not kept
    own_ttl = [universal_step("gpt-4o-mini", **{"cf-aig-cache-ttl": "120"})]
    assert [ask(own_ttl), ask(own_ttl)] == ["MISS", "HIT"]  # cached where the gateway does not
    skipped = [universal_step("gpt-4o-mini", **{"cf-aig-skip-cache": "true"})]
    assert ask(skipped, **hour) == "BYPASS"
    assert not any(r.header("cf-aig-cache-ttl") or r.header("cf-aig-skip-cache") for r in fake.requests)
    assert len(fake.requests) == 6


def test_a_hit_says_which_step_answered_as_the_miss_did(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """Cloudflare sends `cf-aig-step` on every answer of the universal endpoint, cached or not: a
    hit names the step whose answer it replays (a fallback's: 1), as the miss that stored it did."""
    client = sdk(gateway)
    provider = [client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)]
    provider.append(client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES))
    client.close()
    fallback = [universal_step("error-500"), universal_step("gpt-4o")]
    universal = [gateway.http.post("/v1/local/default", json=fallback) for _ in range(2)]
    seen = [(r.headers["cf-aig-cache-status"], r.headers.get("cf-aig-step")) for r in [*provider, *universal]]
    assert seen == [("MISS", "0"), ("HIT", "0"), ("MISS", "1"), ("HIT", "1")]
    assert universal[1].content == universal[0].content
    assert [r.json["model"] for r in fake.requests] == ["gpt-4o-mini", "error-500", "gpt-4o"]


def test_cache_control_max_age_and_no_cache(
    gateway: RunningGateway, fake: FakeOpenAI, clock: FakeClock
) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "cc"}]}'
    post(gateway, body, **{"cache-control": "max-age=600"})
    clock.advance(599)
    assert post(gateway, body).headers["cf-aig-cache-status"] == "HIT"
    # Asked not to be served from cache: a BYPASS, as cf-aig-skip-cache is (the answer is stored).
    assert post(gateway, body, **{"cache-control": "no-cache"}).headers["cf-aig-cache-status"] == "BYPASS"
    assert len(fake.requests) == 2


def test_skip_cache_bypasses(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "skip"}]}'
    post(gateway, body)
    skipped = post(gateway, body, **{"cf-aig-skip-cache": "true"})
    assert skipped.headers["cf-aig-cache-status"] == "BYPASS"
    assert len(fake.requests) == 2
    assert gateway.wait_for_logs(2)[0]["cache_status"] == "BYPASS"


@pytest.mark.parametrize("value", ["1", "yes", "TRUE", "Yes"])
def test_skip_cache_takes_every_spelling_of_yes(
    gateway: RunningGateway, fake: FakeOpenAI, value: str
) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "skip yes"}]}'
    post(gateway, body)
    assert post(gateway, body, **{"cf-aig-skip-cache": value}).headers["cf-aig-cache-status"] == "BYPASS"
    assert post(gateway, body, **{"cf-aig-skip-cache": "no"}).headers["cf-aig-cache-status"] == "HIT"


def test_a_blank_skip_cache_is_as_if_absent(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """Clients template headers from variables that may be unset: `cf-aig-skip-cache: ""` is no ask."""
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "skip blank"}]}'
    post(gateway, body)
    response = post(gateway, body, **{"cf-aig-skip-cache": ""})
    assert (response.status_code, response.headers["cf-aig-cache-status"]) == (200, "HIT")
    assert len(fake.requests) == 1


def test_a_skip_cache_that_is_not_yes_or_no_is_a_400_saying_what_was_meant(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    response = post(gateway, b'{"model": "gpt-4o", "messages": []}', **{"cf-aig-skip-cache": "ture"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["header"] == "cf-aig-skip-cache"
    assert "did you mean 'true'?" in error["message"]
    assert fake.requests == []


def test_custom_key_replaces_the_computed_one_and_can_be_purged(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    one = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "one"}]}'
    two = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "two"}]}'
    first = post(gateway, one, **{"cf-aig-cache-key": "greeting"})
    second = post(gateway, two, **{"cf-aig-cache-key": "greeting"})
    assert second.headers["cf-aig-cache-status"] == "HIT"
    assert second.content == first.content
    purged = gateway.http.delete("/api/v1/accounts/local/gateways/default/cache", params={"key": "greeting"})
    assert purged.json() == {"purged": 1}
    assert post(gateway, two, **{"cf-aig-cache-key": "greeting"}).headers["cf-aig-cache-status"] == "MISS"


def test_purge_all(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    bodies = [b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "%d"}]}' % n for n in range(3)]
    for body in bodies:
        post(gateway, body)
    assert gateway.http.delete("/api/v1/accounts/local/gateways/default/cache").json() == {"purged": 3}
    assert all(post(gateway, body).headers["cf-aig-cache-status"] == "MISS" for body in bodies)
    assert gateway.http.delete("/api/v1/accounts/local/gateways/nope/cache").status_code == 404


def test_errors_are_never_cached(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    body = b'{"model": "error-500", "messages": []}'
    assert post(gateway, body).status_code == 500
    assert post(gateway, body).headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == 2


def test_a_stream_is_replayed_event_for_event(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    body = (
        b'{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "tell me a story"}]}'
    )

    def stream() -> tuple[str, list[bytes]]:
        with gateway.http.stream("POST", CHAT, content=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = b"".join(response.iter_bytes()).split(b"\n\n")
            return response.headers["cf-aig-cache-status"], events

    miss_status, miss_events = stream()
    hit_status, hit_events = stream()
    assert (miss_status, hit_status) == ("MISS", "HIT")
    assert hit_events == miss_events
    assert len(miss_events) > 5
    # The same question without streaming is another entry.
    plain = post(gateway, body.replace(b'"stream": true', b'"stream": false'))
    assert plain.headers["cf-aig-cache-status"] == "MISS"
    assert plain.headers["content-type"].startswith("application/json")
    assert len(fake.requests) == 2


def test_sdk_stream_hit(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    texts = [
        "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            if c.choices
        )
        for _ in range(2)
    ]
    assert texts[0] == texts[1] == "echo: what is a cache"
    assert [r["cache_status"] for r in gateway.wait_for_logs(2)] == ["HIT", "MISS"]


def test_a_broken_stream_is_not_cached(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    body = b'{"model": "drop-mid-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    for _ in range(2):
        with pytest.raises(httpx.HTTPError), gateway.http.stream("POST", CHAT, content=body) as response:
            b"".join(response.iter_bytes())
    assert len(fake.requests) == 2


async def test_concurrent_identical_misses_go_upstream_once(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    async with client:
        answers = await asyncio.gather(
            *(client.chat.completions.create(model="slow-300", messages=MESSAGES) for _ in range(10))
        )
    assert len({answer.id for answer in answers}) == 1
    assert len(fake.requests) == 1


async def test_a_waiter_goes_upstream_itself_after_coalesce_wait(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    # The upstream timeout is long; only the coalescing wait is short, so the second request stops
    # waiting for the first and asks the upstream too.
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url}, timeouts={"coalesce_wait": 0.05})
    enable_cache(gateway, "default")
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    async with client:
        answers = await asyncio.gather(
            *(client.chat.completions.create(model="slow-1000", messages=MESSAGES) for _ in range(2))
        )
    assert len({answer.id for answer in answers}) == 2
    assert len(fake.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_over_cache_entry_bytes_is_relayed_whole_but_not_stored(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock, stream: bool
) -> None:
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url}, limits={"cache_entry_bytes": 64})
    enable_cache(gateway, "default")
    body = orjson.dumps(
        {"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "a story"}]}
    )
    statuses, replies = [], []
    for _ in range(2):
        with gateway.http.stream("POST", CHAT, content=body) as response:
            statuses.append(response.headers["cf-aig-cache-status"])
            replies.append(b"".join(response.iter_bytes()))
    assert statuses == ["MISS", "MISS"]
    assert len(replies[0]) > 64
    # The whole answer (a JSON body up to 1 MiB is read at once; a stream is relayed as it comes).
    if stream:
        assert replies[0].endswith(b"data: [DONE]\n\n")
    else:
        assert orjson.loads(replies[0])["choices"][0]["message"]["content"] == "echo: a story"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("value", ["abc", "-5", "1.5"])  # out of range: test_cache_ttl_range.py
def test_bad_ttl_header_is_a_400_naming_it(gateway: RunningGateway, fake: FakeOpenAI, value: str) -> None:
    response = post(gateway, b'{"model": "gpt-4o", "messages": []}', **{"cf-aig-cache-ttl": value})
    assert response.status_code == 400
    assert response.json()["error"]["header"] == "cf-aig-cache-ttl"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("value", "meant"), [("60s", "60"), ("1h", "3600"), ("5 min", "300"), ("1_000", "1000")]
)
def test_a_ttl_with_a_unit_or_underscores_is_a_400_saying_what_was_meant(
    gateway: RunningGateway, fake: FakeOpenAI, value: str, meant: str
) -> None:
    response = post(gateway, b'{"model": "gpt-4o", "messages": []}', **{"cf-aig-cache-ttl": value})
    assert response.status_code == 400
    assert response.json()["error"]["message"].endswith(f"; did you mean {meant}?")
    assert fake.requests == []


def test_cache_survives_a_restart(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "persist"}]}'
    first = make_gateway(upstreams={"openai": fake.base_url})
    enable_cache(first, "default")
    post(first, body)
    first.server.stop()  # a clean stop lets the write-behind finish
    second = make_gateway(upstreams={"openai": fake.base_url})
    assert post(second, body).headers["cf-aig-cache-status"] == "HIT"
    assert len(fake.requests) == 1


def test_redis_cache_is_shared_by_two_gateways(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Any
) -> None:
    replicas = [
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("a", "b")
    ]
    for replica in replicas:
        enable_cache(replica, "default")
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "shared"}]}'
    assert post(replicas[0], body).headers["cf-aig-cache-status"] == "MISS"
    assert post(replicas[1], body).headers["cf-aig-cache-status"] == "HIT"
    assert len(fake.requests) == 1
    assert replicas[1].http.delete("/api/v1/accounts/local/gateways/default/cache").json() == {"purged": 1}
    assert post(replicas[0], body).headers["cf-aig-cache-status"] == "MISS"


def test_identical_requests_to_different_providers_never_share_an_entry(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url, "groq": fake.base_url})
    enable_cache(gateway, "default")
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "same"}]}'
    assert post(gateway, body).headers["cf-aig-cache-status"] == "MISS"
    groq = gateway.http.post(
        "/v1/local/default/groq/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert groq.headers["cf-aig-cache-status"] == "MISS"
    assert post(gateway, body).headers["cf-aig-cache-status"] == "HIT"
    assert len(fake.requests) == 2


def test_side_effects_are_never_cached(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    # A POST that is not a generation (here an unknown path the fake answers 404) is not cacheable.
    for _ in range(2):
        response = gateway.http.post("/v1/local/default/openai/files", json={"purpose": "batch"})
        assert "cf-aig-cache-status" not in response.headers
    assert len(fake.requests) == 2


def test_accelerator_purge_all_needs_the_purge_scope(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    def token(*scopes: str) -> str:
        body = {"name": "t", "scopes": list(scopes)}
        secret: str = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
        return secret

    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "purge me"}]}'
    post(gateway, body)
    assert post(gateway, body).headers["cf-aig-cache-status"] == "HIT"
    refused = httpx.post(gateway.url + "/ai_accelerator/expire", headers={"Fastly-Key": token("run")})
    assert refused.status_code == 403
    assert httpx.post(gateway.url + "/ai_accelerator/expire").status_code == 401
    purged = httpx.post(gateway.url + "/ai_accelerator/expire", headers={"Fastly-Key": token("purge_all")})
    assert purged.status_code == 200
    assert purged.json()["purged"] >= 1
    assert post(gateway, body).headers["cf-aig-cache-status"] == "MISS"
    alias = httpx.post(
        gateway.url + "/api/v1/cache/expire", headers={"Authorization": f"Bearer {token('purge_all')}"}
    )
    assert alias.status_code == 200


def test_a_custom_key_serves_its_entry_in_the_form_asked_for(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """`cf-aig-cache-key` names one entry whatever the body: a stream asked for gets a stream of the
    answer stored whole, and the reverse, never the other form (which the SDK cannot read)."""
    client = sdk(gateway)
    whole = {"cf-aig-cache-key": "whole-first"}
    stored = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=whole)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=whole
    )
    assert raw.headers["cf-aig-cache-status"] == "HIT"
    assert raw.headers["content-type"].startswith("text/event-stream")
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == stored.choices[0].message.content == "echo: what is a cache"

    streamed = {"cf-aig-cache-key": "stream-first"}
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=streamed)
    )
    hit = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers=streamed
    )
    assert hit.headers["cf-aig-cache-status"] == "HIT"
    completion = hit.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.id == chunks[0].id
    assert completion.choices[0].message.content == "echo: what is a cache"
    assert completion.choices[0].finish_reason == "stop"
    assert len(fake.requests) == 2


def test_a_whole_answer_sent_without_content_length_is_an_answer_not_a_stream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    # Compressed answers from behind a CDN come chunked, without Content-Length: they are still
    # whole JSON answers, to cache, to meter from their usage and to serve as JSON.
    body = {"model": "chunked", "messages": [{"role": "user", "content": "hello"}]}
    answers = [gateway.http.post(CHAT, json=body) for _ in range(2)]
    assert [a.headers["cf-aig-cache-status"] for a in answers] == ["MISS", "HIT"]
    assert answers[1].json() == answers[0].json()
    assert answers[1].headers["content-type"].startswith("application/json")
    assert len(fake.requests) == 1
    records = gateway.wait_for_logs(2)
    assert [r["stream"] for r in records] == [False, False]
    assert records[-1]["usage_estimated"] is False  # read from the answer's usage
