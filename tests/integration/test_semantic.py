"""The semantic cache through the gateway with the openai SDK: the real packaged embedding and
verification models, the fake upstream on loopback."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeClock, RunningGateway
from tests.fakes.openai_server import FakeOpenAI

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url})
    settings = {"semantic_cache_enabled": True}
    assert (
        gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings}).status_code
        == 200
    )
    return gateway


def ask(gateway: RunningGateway, question: str, system: dict[str, str] = SYSTEM, **headers: str) -> Any:
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[system, {"role": "user", "content": question}],  # type: ignore[list-item]
            extra_headers=headers,
        )
        return raw


def stored(gateway: RunningGateway, count: int) -> None:
    """Entries are stored after the answer: wait until the index holds `count` of them (once the
    models, which load in the background on a loaded machine for longer than this waits, are in)."""
    ready(gateway)
    deadline = time.monotonic() + 10
    while True:
        metrics = httpx.get(gateway.url + "/metrics").text
        size = re.search(r"^sluicegate_semantic_entries (\S+)$", metrics, re.M)
        if size and float(size.group(1)) >= count:
            return
        assert time.monotonic() < deadline, f"the semantic index never reached {count} entries"
        time.sleep(0.02)


def ready(gateway: RunningGateway, semantic: str = "ready") -> dict[str, Any]:
    """Poll `/healthz` until it answers 200 (503 while the models load at start) and the semantic
    cache is in state `semantic` (it warms up in the background once a gateway turns it on)."""
    deadline = time.monotonic() + 30
    while True:
        health = httpx.get(gateway.url + "/healthz")
        assert health.status_code in (200, 503), health.text
        if health.status_code == 200 and health.json()["semantic_cache"] == semantic:
            body: dict[str, Any] = health.json()
            return body
        assert time.monotonic() < deadline, f"the gateway never became ready: {health.text}"
        time.sleep(0.02)


def test_a_paraphrase_hits_and_an_unrelated_question_misses(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    first = ask(gateway, "How do I reset my password?")
    assert first.headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    second = ask(gateway, "How can I reset my password?")
    assert second.headers["x-semantic-cache"] == "HIT"
    assert float(second.headers["x-semantic-similarity"]) >= 0.9
    assert (
        second.parse().choices[0].message.content == "echo: How do I reset my password?"
    )  # the first answer
    assert "x-sluicegate-semantic-question" not in second.headers
    unrelated = ask(gateway, "Tell me a joke about cats")
    assert unrelated.headers["x-semantic-cache"] == "MISS"
    assert len(fake.requests) == 2
    records = gateway.wait_for_logs(3)
    assert [r["semantic_hit"] for r in records] == [False, True, False]
    assert records[1]["cost_usd"] == 0


@pytest.mark.parametrize("exact", [False, True], ids=["semantic-only", "exact-cache-too"])
def test_semantic_hits_and_misses_are_counted_once_everywhere(
    gateway: RunningGateway, clock: FakeClock, exact: bool
) -> None:
    """Logs, analytics and /metrics see a semantic miss as a MISS and a semantic hit as one HIT, so
    every hit rate counts both (a miss was logged as not cacheable; a hit after an exact miss, as
    a miss and a hit)."""
    if exact:
        gateway.http.patch(
            "/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}}
        )
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    ask(gateway, "Tell me a joke about cats")
    records = gateway.wait_for_logs(3)[::-1]
    assert [(r["cache_status"], r["cache_source"], r["semantic_hit"]) for r in records] == [
        ("MISS", "semantic", False),
        ("HIT", "semantic", True),
        ("MISS", "semantic", False),
    ]
    period = {"from": clock.now - 3600, "to": clock.now + 60}
    totals = gateway.http.get("/api/v1/accounts/local/analytics", params=period).json()["totals"]
    assert (totals["cache_hits"], totals["semantic_hits"], totals["cache_misses"]) == (0, 1, 2)
    assert totals["latency"]["requests"] == 2  # origin latency: the two misses only
    counted = {
        (sample.labels["cache"], sample.labels["cache_source"]): sample.value
        for family in text_string_to_metric_families(httpx.get(gateway.url + "/metrics").text)
        for sample in family.samples
        if sample.name == "sluicegate_requests_total"
    }
    assert counted == {("MISS", "semantic"): 2, ("HIT", "semantic"): 1}


def test_a_typod_near_repeat_hits(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """A misspelt word takes the stored question's spelling and is embedded again; a known word
    one letter away ("passport") is a different question."""
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    typo = ask(gateway, "how do i reset my passwrod")
    assert typo.headers["x-semantic-cache"] == "HIT"
    assert typo.parse().choices[0].message.content == "echo: How do I reset my password?"
    assert ask(gateway, "How do I reset my passport?").headers["x-semantic-cache"] == "MISS"
    assert len(fake.requests) == 2


def test_a_tense_change_misses_and_a_contraction_hits(gateway: RunningGateway) -> None:
    ask(gateway, "Who is the president of France?")
    stored(gateway, 1)
    assert ask(gateway, "Who was the president of France?").headers["x-semantic-cache"] == "MISS"
    assert ask(gateway, "who's the president of france").headers["x-semantic-cache"] == "HIT"


def test_a_changed_entity_is_not_served(gateway: RunningGateway) -> None:
    ask(gateway, "What is the capital of France?")
    stored(gateway, 1)
    assert ask(gateway, "What is the capital of Germany?").headers["x-semantic-cache"] == "MISS"


def test_scope_segment_and_system_prompt(gateway: RunningGateway) -> None:
    ask(gateway, "How do I reset my password?", **{"x-semantic-cache-key": "team-a"})
    stored(gateway, 1)
    other_segment = ask(gateway, "How can I reset my password?", **{"x-semantic-cache-key": "team-b"})
    assert other_segment.headers["x-semantic-cache"] == "MISS"
    other_system = ask(
        gateway, "How can I reset my password?", {"role": "system", "content": "Answer in French."}
    )
    assert other_system.headers["x-semantic-cache"] == "MISS"
    same = ask(gateway, "How can I reset my password?", **{"x-semantic-cache-key": "team-a"})
    assert same.headers["x-semantic-cache"] == "HIT"


def test_threshold_one_disables_near_hits(gateway: RunningGateway) -> None:
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    strict = ask(gateway, "How can I reset my password?", **{"x-semantic-threshold": "1.0"})
    assert strict.headers["x-semantic-cache"] == "MISS"


def test_threshold_one_serves_the_very_same_question(gateway: RunningGateway) -> None:
    # Fastly's "exact meaning only": the cosine of one text with itself is 1 give or take a float32
    # rounding, either way (0.99999994 missed).
    questions = [f"How do I reset my router password? edge{n}" for n in range(8)]
    for count, question in enumerate(questions, start=1):
        ask(gateway, question)
        stored(gateway, count)
    for question in questions:
        again = ask(gateway, question, **{"x-semantic-threshold": "1"})
        assert again.headers["x-semantic-cache"] == "HIT", question


def test_overrides_turn_it_off_and_on_per_request(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})  # semantic cache off for the gateway
    on = {"x-settings-overrides": '{"semantic_cache_enabled": true}'}
    assert "x-semantic-cache" not in ask(gateway, "How do I reset my password?").headers
    assert ask(gateway, "How do I reset my password?", **on).headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    assert ask(gateway, "How can I reset my password?", **on).headers["x-semantic-cache"] == "HIT"
    off = {"x-settings-overrides": '{"semantic_cache_enabled": false}'}
    answer = ask(gateway, "How can I reset my password?", **off)  # speaks Fastly: its header says MISS
    assert (answer.headers["x-semantic-cache"], answer.headers.get("cf-aig-cache-status")) == ("MISS", None)


def test_ttl_expiry_follows_the_clock(gateway: RunningGateway, clock: FakeClock) -> None:
    ask(gateway, "How do I reset my password?", **{"cache-control": "max-age=120"})
    stored(gateway, 1)
    clock.advance(119)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    clock.advance(2)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "MISS"


def test_no_store_and_no_cache_are_honoured_as_by_the_exact_cache(gateway: RunningGateway) -> None:
    # The rules of `pipeline.cache_control`, the exact cache's: no-store keeps this answer out,
    # no-cache goes upstream (and stores the fresh answer).
    ask(gateway, "How do I reset my password?", **{"cache-control": "no-store"})
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    assert (
        ask(gateway, "How can I reset my password?", **{"cache-control": "no-cache"}).headers[
            "x-semantic-cache"
        ]
        == "MISS"
    )
    stored(gateway, 2)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"


def test_a_stream_is_answered_as_a_stream(gateway: RunningGateway) -> None:
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    with client:
        for question, status in (
            ("How do I reset my password?", "MISS"),
            ("How can I reset my password?", "HIT"),
        ):
            messages: Any = [SYSTEM, {"role": "user", "content": question}]
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=messages, stream=True
            )
            assert raw.headers["x-semantic-cache"] == status
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert text == "echo: How do I reset my password?"
            stored(gateway, 1)


def entries_of_2000_bytes(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    """A gateway with the semantic cache on and ready, its entries at most 2,000 bytes."""
    gateway = make_gateway(upstreams={"openai": fake.base_url}, limits={"cache_entry_bytes": 2000})
    settings = {"semantic_cache_enabled": True}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    ready(gateway)
    return gateway


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_over_cache_entry_bytes_is_relayed_whole_but_not_stored(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, stream: bool
) -> None:
    gateway = entries_of_2000_bytes(make_gateway, fake)
    long = " ".join(["Seafaring" * 6] * 60)  # its echo (the fake keeps 64 words): over 3 KB
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)

    def ask(question: str) -> str:
        messages: Any = [SYSTEM, {"role": "user", "content": question}]
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=messages, stream=stream
        )
        parsed = raw.parse()
        text = (
            "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
            if stream
            else parsed.choices[0].message.content
        )
        assert text == f"echo: {question}"  # the whole answer, however long
        return str(raw.headers["x-semantic-cache"])

    with client:
        assert ask(long) == "MISS"
        assert ask("Hi there!") == "MISS"
        stored(gateway, 1)  # the short answer; the long one's store (if any) began before it
        assert ask(long) == "MISS"
    assert len(fake.requests) == 3
    size = re.search(r"^sluicegate_semantic_entries (\S+)$", httpx.get(gateway.url + "/metrics").text, re.M)
    assert size is not None
    assert float(size.group(1)) == 1


def test_an_entry_keeps_its_question_within_cache_entry_bytes(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """A stored entry holds its question (and earlier turns) with the answer: together they must
    fit. A 2 KB question whose echo (64 words) fits alone is answered, and not stored."""
    gateway = entries_of_2000_bytes(make_gateway, fake)
    long = " ".join(["Seafaring"] * 200)
    first = ask(gateway, long)
    assert len(first.content) < 2000
    assert first.headers["x-semantic-cache"] == "MISS"
    assert ask(gateway, "Hi there!").headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)  # the short one; the long one's store (had there been one) began before it
    assert ask(gateway, long).headers["x-semantic-cache"] == "MISS"
    assert len(fake.requests) == 3


def test_purge_needs_the_scope(gateway: RunningGateway) -> None:
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    run_only = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "r", "scopes": ["run"]}
    ).json()
    purger = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "p", "scopes": ["purge_all"]}
    ).json()
    assert (
        httpx.post(
            gateway.url + "/ai_accelerator/expire", headers={"Fastly-Key": run_only["token"]}
        ).status_code
        == 403
    )
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    purged = httpx.post(gateway.url + "/ai_accelerator/expire", headers={"Fastly-Key": purger["token"]})
    assert purged.status_code == 200
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "MISS"


def test_models_load_at_start_only_when_a_gateway_uses_the_semantic_cache(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    plain = make_gateway(upstreams={"openai": fake.base_url})
    assert httpx.get(plain.url + "/healthz").json() == {"status": "ok", "semantic_cache": "cold"}
    settings = {"settings": {"semantic_cache_enabled": True}}
    plain.http.patch("/api/v1/accounts/local/gateways/default", json=settings)
    ready(plain)  # turning it on loaded the models, before any request asked for them
    plain.server.stop()
    restarted = make_gateway(upstreams={"openai": fake.base_url})  # the same database
    assert ready(restarted) == {"status": "ok", "semantic_cache": "ready"}  # no request made
    assert fake.requests == []


def test_a_restart_keeps_the_index(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> None:
    first = make_gateway(upstreams={"openai": fake.base_url})
    first.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"semantic_cache_enabled": True}}
    )
    ask(first, "How do I reset my password?")
    stored(first, 1)
    first.server.stop()
    second = make_gateway(upstreams={"openai": fake.base_url})
    ready(second)  # as a load balancer would: the models load at start
    assert ask(second, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-semantic-threshold", "1.5"),
        ("x-semantic-threshold", "-0.1"),
        ("x-semantic-threshold", "high"),
        ("x-settings-overrides", "{not json"),
        ("x-settings-overrides", "[1]"),
        ("x-settings-overrides", '{"semantic_cache_enabled": "yes"}'),
    ],
)
def test_bad_headers_are_400s(gateway: RunningGateway, fake: FakeOpenAI, header: str, value: str) -> None:
    response = gateway.http.post(
        "/v1/local/default/openai/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={header: value},
    )
    assert response.status_code == 400
    assert response.json()["error"]["header"] == header
    assert fake.requests == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (75, "settings.semantic_threshold: must be between 0 and 1, got 75: did you mean 0.75?"),
        (92.5, "settings.semantic_threshold: must be between 0 and 1, got 92.5: did you mean 0.925?"),
        ("85", "settings.semantic_threshold: must be between 0 and 1, got 85: did you mean 0.85?"),
        (1.5, "settings.semantic_threshold: Input should be less than or equal to 1"),  # no percentage
    ],
)
def test_a_threshold_setting_written_as_a_percentage_says_the_fraction_meant(
    make_gateway: Callable[..., RunningGateway], value: Any, message: str
) -> None:
    """As the `x-semantic-threshold` header's 400 does: Fastly's 0.75 is easily sent as 75."""
    gateway = make_gateway()
    settings = {"semantic_cache_enabled": True, "semantic_threshold": value}
    refused = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert refused.status_code == 400
    assert (refused.json()["error"]["message"], refused.json()["error"]["field"]) == (
        message,
        "settings.semantic_threshold",
    )
    header = gateway.http.post(
        "/v1/local/default/openai/chat/completions",
        json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-semantic-threshold": "75"},
    )
    assert (
        header.json()["error"]["message"]
        == "x-semantic-threshold must be between 0 and 1, got 75: did you mean 0.75?"
    )
    kept = gateway.http.get("/api/v1/accounts/local/gateways/default").json()["settings"]
    assert (kept["semantic_cache_enabled"], kept["semantic_threshold"]) == (False, 0.9)


def test_a_question_stored_through_one_replica_hits_on_another_within_a_second(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Any
) -> None:
    one, two = (
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("one", "two")
    )
    for replica in (one, two):
        replica.http.patch(
            "/api/v1/accounts/local/gateways/default", json={"settings": {"semantic_cache_enabled": True}}
        )
        ready(replica)  # turning the semantic cache on loads its models, in the background
    ask(one, "How do I reset my password?")
    answered = time.monotonic()
    stored(two, 1)  # replica two's own index learns of it through the shared feed
    assert time.monotonic() - answered < 1.0
    answer = ask(two, "How can I reset my password?")
    assert answer.headers["x-semantic-cache"] == "HIT"
    assert answer.parse().choices[0].message.content == "echo: How do I reset my password?"
    assert len(fake.requests) == 1


def test_replicas_keep_a_tenants_answer_to_its_provider_key(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Any
) -> None:
    one, two = (
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("one", "two")
    )
    settings = {"semantic_cache_enabled": True, "cache_per_key": True}
    for replica in (one, two):
        replica.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
        ready(replica)  # the models load in the background: wait for them, not for the feed

    def ask_as(replica: RunningGateway, key: str, question: str) -> Any:
        with openai.OpenAI(base_url=replica.provider_url("openai"), api_key=key, max_retries=0) as client:
            return client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[SYSTEM, {"role": "user", "content": question}]
            )

    ask_as(one, "sk-tenant-a", "How do I reset my password?")
    stored(two, 1)  # replica two learns of it through the feed, filed under tenant a's key
    other = ask_as(two, "sk-tenant-b", "How can I reset my password?")
    assert other.headers["x-semantic-cache"] == "MISS"
    assert other.parse().choices[0].message.content == "echo: How can I reset my password?"
    same = ask_as(two, "sk-tenant-a", "How can I reset my password?")
    assert same.headers["x-semantic-cache"] == "HIT"
    assert same.parse().choices[0].message.content == "echo: How do I reset my password?"
    assert len(fake.requests) == 2
