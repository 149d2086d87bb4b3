"""One odd request never costs the log records of others, and admins' redaction patterns cannot
stall the gateway: they run on RE2 (linear time) within a time budget per record."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

CHAT = "/v1/local/default/openai/chat/completions"
SETTINGS = "/api/v1/accounts/local/gateways/default"


def configure(gateway: RunningGateway, **settings: Any) -> httpx.Response:
    return gateway.http.patch(SETTINGS, json={"settings": settings})


def chat(gateway: RunningGateway, content: str, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
    response = httpx.post(
        gateway.url + CHAT, json=body, headers={"Authorization": "Bearer sk-test"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def test_a_body_too_deep_to_redact_is_omitted_and_its_batch_kept(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    # A batch is written when four records are pending, so the four requests share one.
    gateway = make_gateway(upstreams={"openai": fake.base_url}, log_batch_size=4, log_flush_interval=60)
    assert configure(gateway, redact_paths=["messages.*.content"]).status_code == 200
    ids = [chat(gateway, f"plain {n}").headers["cf-aig-log-id"] for n in range(3)]
    # Parsed fine (orjson reads 1024 levels) and passed through, but too deep to write again.
    deep = chat(gateway, "deep", extra=json.loads("[" * 300 + "]" * 300)).headers["cf-aig-log-id"]
    records = {record["id"]: record for record in gateway.wait_for_logs(4)}
    assert set(records) == {*ids, deep}
    shown = gateway.http.get(f"{SETTINGS}/logs/{deep}").json()
    assert shown["request_body"] is None
    assert shown["degraded"] == (
        "request body omitted: its JSON is nested too deeply to write again after redaction"
    )
    assert shown["tokens_in"] is not None  # the rest of the record is whole
    assert "echo: deep" in shown["response_body"]  # the answer is not nested: it is kept
    plain = gateway.http.get(f"{SETTINGS}/logs/{ids[0]}").json()
    assert json.loads(plain["request_body"])["messages"][0]["content"] == "[redacted]"
    assert plain["degraded"] is None


def test_patterns_re2_cannot_run_are_refused_naming_the_pattern(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    gateway = make_gateway()
    for pattern in (r"(\w+) and \1", r"secret(?=word)", r"(?<!x)y"):
        refused = configure(gateway, redact_patterns=[r"[\w.+-]+@[\w-]+\.[\w.]+", pattern])
        assert refused.status_code == 400, pattern
        error = refused.json()["error"]
        assert error["field"] == "settings.redact_patterns"
        assert f"pattern {pattern!r} is not one RE2 accepts" in error["message"]
    assert gateway.http.get(SETTINGS).json()["settings"]["redact_patterns"] == []


@pytest.mark.usefixtures("still_heap")  # bounds a health check's latency
def test_a_catastrophic_pattern_neither_stalls_the_gateway_nor_delays_the_record(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """`(x+x+)+y` backtracks exponentially on a run of x's in a backtracking engine (about 10 s for
    this body there, twice: the fake echoes it); RE2 matches it in linear time."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    assert configure(gateway, redact_patterns=[r"(x+x+)+y"]).status_code == 200
    sent = time.monotonic()
    log_id = chat(gateway, "x" * 26 + " and xxy").headers["cf-aig-log-id"]
    slowest = 0.0
    while (shown := gateway.http.get(f"{SETTINGS}/logs/{log_id}")).status_code == 404:
        assert time.monotonic() - sent < 3, "the record was not written within 3 s"
        started = time.monotonic()
        assert httpx.get(gateway.url + "/healthz").status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.5
    record = shown.json()
    assert "and [redacted]" in record["request_body"]
    assert "and [redacted]" in record["response_body"]


def test_redaction_that_runs_past_its_budget_omits_the_body(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    assert configure(gateway, redact_patterns=["[a-z]"]).status_code == 200
    # 200,000 matches, each replaced: far past the 50 ms of CPU a record may spend on redaction.
    log_id = chat(gateway, "ab " * 100_000).headers["cf-aig-log-id"]
    small = chat(gateway, "hello").headers["cf-aig-log-id"]
    records = {record["id"]: record for record in gateway.wait_for_logs(2)}
    assert set(records) == {log_id, small}
    shown = gateway.http.get(f"{SETTINGS}/logs/{log_id}").json()
    assert shown["request_body"] is None
    assert (
        "request body omitted: redaction ran past its budget of 50 ms of CPU per record" in shown["degraded"]
    )
    assert shown["tokens_in"] is not None  # the rest of the record is whole
    assert "[redacted][redacted]" in gateway.http.get(f"{SETTINGS}/logs/{small}").json()["request_body"]
