"""Guardrails on Workers AI's native runs (`/workers-ai/@cf/...`), over loopback against the fake
Workers AI upstream, with plain HTTP as Cloudflare documents the native endpoint (the `cloudflare`
SDK sends a path of its own form: tests/integration/test_workers_ai.py) and
the `websockets` client for the universal WebSockets API. Answers come in Cloudflare's envelope
(`result.response`, `result.tool_calls`) and streams as `{"response": …}` and `tool_calls` events;
a request's `prompt` is read as its `messages` are."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.workers_ai_server import FakeWorkersAI

MODEL = "@cf/meta/llama-3.1-8b-instruct"
CARD = "4111 1111 1111 1111"  # Luhn-valid; the fake echoes it back, a word an event when streamed
AUTH = {"Authorization": "Bearer cf-api-token-0123456789abcdef"}
ANSWERS = {"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}}
BLOCK_ANSWERS = {"pii": {"action": "block", "entities": ["credit_card"], "direction": "response"}}
BLOCK_BOTH = {"pii": {"action": "block", "entities": ["credit_card"]}}
TOOLS: Any = [
    {"name": "save_note", "parameters": {"type": "object", "properties": {"note": {"type": "string"}}}}
]


@pytest.fixture
def fake() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI) -> RunningGateway:
    return make_gateway(upstreams={"workers-ai": fake.base_url})


def run(gateway: RunningGateway, body: dict[str, Any], **headers: str) -> httpx.Response:
    url = f"{gateway.provider_url('workers-ai')}/{MODEL}"
    return httpx.post(url, json=body, headers={**AUTH, **headers}, timeout=10)


def streamed(gateway: RunningGateway, body: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    """The stream's events, parsed ([DONE] last, as None)."""
    response = run(gateway, {**body, "stream": True}, **headers)
    assert response.status_code == 200, response.text
    assert CARD.replace(" ", "") not in response.text.replace(" ", "")
    return [json.loads(data) if data != "[DONE]" else None for data in events_of(response.content)]


def events_of(body: bytes) -> list[str]:
    """The data of each SSE event of `body` (one data line each, as Workers AI writes them)."""
    blocks = body.decode().replace("\r\n", "\n").split("\n\n")
    lines = [line for block in blocks for line in block.split("\n") if line.startswith("data:")]
    return [line.removeprefix("data:").strip() for line in lines]


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def stored(gateway: RunningGateway) -> dict[str, Any]:
    record = gateway.wait_for_logs(1)[0]
    detail: dict[str, Any] = gateway.http.get(
        f"/api/v1/accounts/local/gateways/default/logs/{record['id']}"
    ).json()
    return {**record, **detail}


def test_a_whole_answer_in_cloudflares_envelope_is_redacted(gateway: RunningGateway) -> None:
    gateway.configure(guardrails=ANSWERS)
    answer = run(gateway, {"messages": user(f"my card is {CARD}")})
    assert answer.status_code == 200
    assert answer.json()["result"]["response"] == "echo: my card is [CREDIT_CARD_1]"
    assert answer.headers["x-sluicegate-guardrails"] == "response:redact:credit_card"
    record = stored(gateway)
    assert record["metadata"]["guardrails"] == "response:redact:credit_card"
    assert "4111" not in record["response_body"]


def test_a_block_rule_refuses_a_whole_answer(gateway: RunningGateway, fake: FakeWorkersAI) -> None:
    gateway.configure(guardrails=BLOCK_ANSWERS)
    refused = run(gateway, {"messages": user(f"my card is {CARD}")})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["direction"], error["cloudflare_code"]) == (
        "guardrail_blocked",
        "response",
        2017,
    )
    assert "4111" not in refused.text
    assert len(fake.requests) == 1  # the request itself passed: the rule is for answers
    assert "4111" not in stored(gateway)["response_body"]


def test_a_card_split_across_streamed_events_is_redacted(gateway: RunningGateway) -> None:
    gateway.configure(guardrails=BLOCK_ANSWERS)  # in a stream a block rule redacts
    events = streamed(gateway, {"messages": user(f"pay {CARD} now")})
    assert events[-1] is None  # [DONE] still last
    assert "".join(e.get("response", "") for e in events if e) == "echo: pay [CREDIT_CARD_1] now"
    assert any("usage" in e for e in events if e)
    assert "response:redact:credit_card" in stored(gateway)["metadata"]["guardrails"]


def test_a_prompt_is_read_as_messages_are(gateway: RunningGateway, fake: FakeWorkersAI) -> None:
    gateway.configure(guardrails=BLOCK_BOTH)
    refused = run(gateway, {"prompt": f"my card is {CARD}"})
    assert refused.status_code == 400
    assert refused.json()["error"]["direction"] == "request"
    assert fake.requests == []
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["credit_card"]}, "restore": True})
    answer = run(gateway, {"prompt": f"my card is {CARD}"})
    assert fake.requests[-1].json == {"prompt": "my card is [CREDIT_CARD_1]"}
    # The model saw the placeholder; the client gets its own value back, the log keeps it masked.
    assert answer.json()["result"]["response"] == f"echo: my card is {CARD}"
    gateway.wait_for_logs(2)
    record = stored(gateway)  # the latest
    assert "echo: my card is [" in record["response_body"]
    assert "4111" not in record["response_body"] + record["request_body"]


def test_tool_call_arguments_are_redacted_whole_and_streamed(gateway: RunningGateway) -> None:
    gateway.configure(guardrails=ANSWERS)
    body = {"messages": user(f"note {CARD}"), "tools": TOOLS}
    answer = run(gateway, body, **{"x-fake-behavior": "tool-call"})
    (call,) = answer.json()["result"]["tool_calls"]
    assert call == {"name": "save_note", "arguments": {"note": "note [CREDIT_CARD_1]"}}
    events = streamed(gateway, body, **{"x-fake-behavior": "tool-call"})
    pieces = [c["function"].get("arguments") or "" for e in events if e for c in e.get("tool_calls", ())]
    assert json.loads("".join(pieces)) == {"note": "note [CREDIT_CARD_1]"}
    # What a call's pipe held goes out before the entry of nulls that closes the calls.
    closing = next(i for i, e in enumerate(events) if e and e.get("tool_calls", [{}])[0].get("id", 0) is None)
    assert all("tool_calls" not in e for e in events[closing + 1 :] if e)


def test_the_universal_endpoint_over_http_and_websocket_checks_the_answer(gateway: RunningGateway) -> None:
    gateway.configure(guardrails=BLOCK_ANSWERS)
    step = {"provider": "workers-ai", "endpoint": MODEL, "headers": AUTH, "query": {"messages": user(CARD)}}
    refused = httpx.post(f"{gateway.url}/v1/local/default", json=[step], timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "guardrail_blocked"
    with connect(f"{gateway.url.replace('http://', 'ws://')}/v1/local/default") as socket:
        socket.send(json.dumps({"type": "universal.create", "request": {"eventId": "e1", **step}}))
        event = json.loads(socket.recv(timeout=10))
    assert "4111" not in json.dumps(event)
    assert event["metadata"]["status"] == 400
