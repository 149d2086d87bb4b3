"""Guardrails read Cohere's v1 chat (`/v1/chat`): the answer's `text`, tool calls' `parameters`,
citations and the `chat_history` it repeats, whole and streamed. Its stream is newline-delimited
JSON (`application/stream+json`), read line by line as it passes (a secret split across
`text-generation` events is caught, every line stays a JSON object, none is held to the end), with
the same redact, block and restore; and the request's `preamble`, `message`, `chat_history`, tool
results and documents. Through the official `cohere` SDK (its v1 `Client`) against the fake Cohere."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import cohere
import httpx
import pytest
from cohere.errors import BadRequestError

from tests.conftest import RunningGateway
from tests.fakes.cohere_server import FakeCohere
from tests.integration.test_guardrails_cohere import (
    API_KEY,
    ASKED,
    BLOCK,
    KEY,
    MODEL,
    REDACT,
    SAID,
)

ANSWER = f"echo: {SAID}"
TOOLS: list[Any] = [{"name": "save_note", "description": "d", "parameter_definitions": {}}]


@pytest.fixture
def upstream() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=API_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstream: FakeCohere) -> RunningGateway:
    return make_gateway(upstreams={"cohere": upstream.base_url})


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def client(gateway: RunningGateway, http: httpx.Client) -> cohere.Client:
    return cohere.Client(
        api_key=API_KEY, base_url=gateway.provider_url("cohere"), httpx_client=http, max_retries=0
    )


def streamed(client: cohere.Client, **asked: Any) -> list[dict[str, Any]]:
    """The stream's events as the SDK parsed them, as plain objects."""
    return [event.dict() for event in client.chat_stream(model=MODEL, **asked)]


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [event["text"] for event in events if event["event_type"] == "text-generation"]


def model_said(value: Any) -> str:
    """`value` (an answer, events) as JSON without the user's turns its `chat_history` repeats: the
    user's own words, as they went upstream, which no response rule is for."""

    def kept(found: Any) -> Any:
        if isinstance(found, list):
            return [
                kept(item) for item in found if not (isinstance(item, dict) and item.get("role") == "USER")
            ]
        if isinstance(found, dict):
            return {key: kept(item) for key, item in found.items()}
        return found

    return json.dumps(kept(value))


def parsed_lines(raw: list[bytes] | bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (raw.splitlines() if isinstance(raw, bytes) else raw)]


def lines(gateway: RunningGateway, http: httpx.Client, body: dict[str, Any]) -> list[bytes]:
    """The raw lines of a stream the gateway sends: each must be a JSON object."""
    url = f"{gateway.provider_url('cohere')}/v1/chat"
    response = http.post(
        url, json={"model": MODEL, "stream": True, **body}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/stream+json")
    assert response.content.endswith(b"\n")
    found = response.content.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in found)
    return found


def test_a_whole_answer_and_the_history_repeating_it_are_redacted(
    gateway: RunningGateway, client: cohere.Client
) -> None:
    gateway.configure(guardrails=REDACT)
    answer = client.chat(model=MODEL, message=ASKED)
    assert answer.text == ANSWER
    assert "MIIEvQ" not in model_said(json.loads(answer.json()))
    assert [turn.message for turn in answer.chat_history or [] if turn.role == "CHATBOT"] == [ANSWER]
    # The user's own turn as it went upstream: no response rule is for it.
    assert [turn.message for turn in answer.chat_history or [] if turn.role == "USER"] == [ASKED]
    record = gateway.wait_for_logs(1)[0]
    assert "response:redact:secret" in record["metadata"]["guardrails"]


def test_a_secret_split_across_lines_is_redacted_as_they_pass(
    gateway: RunningGateway, client: cohere.Client, http: httpx.Client
) -> None:
    gateway.configure(guardrails=REDACT)
    events = streamed(client, message=ASKED)
    assert "".join(texts(events)) == ANSWER
    assert "MIIEvQ" not in model_said(events)
    assert "".join(texts(events)[:5]) == "echo: my key is "  # none held to the end
    end = events[-1]
    assert end["event_type"] == "stream-end"
    assert end["response"]["text"] == ANSWER  # the whole answer again, with the same placeholder
    raw = lines(gateway, http, {"message": ASKED})
    assert len(raw) == len(events)
    assert "MIIEvQ" not in model_said(parsed_lines(raw))


def test_lines_are_read_and_sent_as_they_pass_not_held_to_the_end(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    gateway.configure(
        guardrails={"pii": {"action": "redact", "entities": ["email"], "direction": "response"}}
    )
    url = f"{gateway.provider_url('cohere')}/v1/chat"
    headers = {"Authorization": f"Bearer {API_KEY}", "x-fake-behavior": "drop-mid-stream"}
    body = {"model": MODEL, "stream": True, "message": "bob@example.com is mine"}
    received = b""
    with http.stream("POST", url, json=body, headers=headers) as reply:
        assert reply.status_code == 200  # held whole, the broken body would be a 502
        try:
            for chunk in reply.iter_bytes():
                received += chunk
        except httpx.TransportError:
            pass
    # The upstream breaks off after " is": what came before it reached the client, read.
    sent = [json.loads(line) for line in received.splitlines()]
    assert sent[0]["event_type"] == "stream-start"
    assert "".join(event.get("text", "") for event in sent[1:]).startswith("echo: [EMAIL_1]")
    assert b"bob@" not in received


def test_a_block_rule_refuses_a_whole_answer_and_redacts_a_stream(
    gateway: RunningGateway, client: cohere.Client
) -> None:
    gateway.configure(guardrails=BLOCK)
    with pytest.raises(BadRequestError) as refused:
        client.chat(model=MODEL, message=ASKED)
    assert refused.value.body["error"]["code"] == "guardrail_blocked"
    assert "MIIEvQ" not in json.dumps(refused.value.body)
    events = streamed(client, message=ASKED)
    assert "".join(texts(events)) == ANSWER
    assert "MIIEvQ" not in model_said(events)


def test_tool_calls_are_redacted_whole_and_streamed(
    gateway: RunningGateway, client: cohere.Client, http: httpx.Client
) -> None:
    gateway.configure(guardrails=REDACT)
    answer = client.chat(model=MODEL, message=ASKED, tools=TOOLS)
    assert [call.parameters for call in answer.tool_calls or []] == [{"note": SAID}]
    assert answer.text == f"I will save: {SAID}"
    assert "MIIEvQ" not in model_said(json.loads(answer.json()))
    events = streamed(client, message=ASKED, tools=TOOLS)
    assert "MIIEvQ" not in model_said(events)
    chunks = [e for e in events if e["event_type"] == "tool-calls-chunk"]
    plan = "".join(e["text"] for e in chunks if e.get("text") is not None)
    assert plan == f"I will save: {SAID}"
    parameters = "".join((e.get("tool_call_delta") or {}).get("parameters") or "" for e in chunks)
    assert json.loads(parameters) == {"note": SAID}  # still JSON, the key's fragments redacted
    (generated,) = [e for e in events if e["event_type"] == "tool-calls-generation"]
    assert [call["parameters"] for call in generated["tool_calls"]] == [{"note": SAID}]
    assert "MIIEvQ" not in model_said(parsed_lines(lines(gateway, http, {"message": ASKED, "tools": TOOLS})))


def test_a_citation_quoting_the_answer_is_redacted(gateway: RunningGateway, client: cohere.Client) -> None:
    gateway.configure(guardrails=REDACT)
    documents: list[Any] = [{"title": "notes", "snippet": "none"}]
    answer = client.chat(model=MODEL, message=ASKED, documents=documents)
    assert [citation.text for citation in answer.citations or []] == [ANSWER]
    events = streamed(client, message=ASKED, documents=documents)
    (cited,) = [e for e in events if e["event_type"] == "citation-generation"]
    assert [citation["text"] for citation in cited["citations"]] == [ANSWER]
    assert "MIIEvQ" not in model_said(events)


def test_the_request_is_redacted_upstream_and_restored_in_the_answer(
    gateway: RunningGateway, upstream: FakeCohere, client: cohere.Client
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["email"]}, "restore": True})
    asked: dict[str, Any] = {
        "preamble": "cc admin@example.org",
        "chat_history": [
            {"role": "USER", "message": "hi bob@example.com"},
            {
                "role": "CHATBOT",
                "message": "ok",
                "tool_calls": [{"name": "f", "parameters": {"to": "dave@example.com"}}],
            },
            {
                "role": "TOOL",
                "tool_results": [
                    {"call": {"name": "f", "parameters": {}}, "outputs": [{"by": "eve@example.com"}]}
                ],
            },
        ],
        "documents": [{"title": "from frank@example.com"}],
    }
    answer = client.chat(model=MODEL, message="write to carol@example.net", **asked)
    sent = upstream.requests[0].body.decode()
    for address in ("admin@", "bob@", "dave@", "eve@", "frank@", "carol@"):
        assert address not in sent
    assert "[EMAIL_6]" in sent
    assert answer.text == "echo: write to carol@example.net"
    assert KEY not in sent
    # The history the answer repeats is the client's own again, placeholders put back.
    assert [turn.message for turn in answer.chat_history or [] if turn.role == "USER"] == [
        "hi bob@example.com",
        "write to carol@example.net",
    ]
    events = streamed(client, message="write to carol@example.net", **asked)
    assert "".join(texts(events)) == "echo: write to carol@example.net"
    assert events[-1]["response"]["text"] == "echo: write to carol@example.net"


def user_turns(history: list[dict[str, Any]]) -> list[str]:
    return [turn["message"] for turn in history if turn["role"] == "USER"]


def findings(gateway: RunningGateway, count: int) -> list[str | None]:
    """Each logged request's guardrail findings (None: none)."""
    return [(record.get("metadata") or {}).get("guardrails") for record in gateway.wait_for_logs(count)]


# The reviewer's case: an address the user gave in an earlier turn, an answer that holds none.
EARLIER: list[Any] = [
    {"role": "USER", "message": "my address is bob@example.com, please remember it"},
    {"role": "CHATBOT", "message": "Noted, I will reply soon."},
]
ANSWERS_ONLY = {"direction": "response", "entities": ["email"]}


def test_the_users_own_turns_the_history_repeats_are_not_read_as_the_answer(
    gateway: RunningGateway, client: cohere.Client
) -> None:
    gateway.configure(guardrails={"pii": {"action": "block", **ANSWERS_ONLY}})
    answer = client.chat(model=MODEL, message="thanks", chat_history=EARLIER)  # not blocked
    assert answer.text == "echo: thanks"
    mine = [EARLIER[0]["message"], "thanks"]
    assert user_turns(json.loads(answer.json())["chat_history"]) == mine
    events = streamed(client, message="thanks", chat_history=EARLIER)
    assert "".join(texts(events)) == "echo: thanks"
    assert user_turns(events[-1]["response"]["chat_history"]) == mine  # not redacted
    assert findings(gateway, 2) == [None, None]


def test_an_answer_is_redacted_with_the_history_repeating_it_and_the_users_turn_left_as_sent(
    gateway: RunningGateway, client: cohere.Client
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", **ANSWERS_ONLY}})
    asked = "bob@example.com is mine"
    said = "echo: [EMAIL_1] is mine"
    answer = client.chat(model=MODEL, message=asked)
    history = json.loads(answer.json())["chat_history"]
    assert (answer.text, history[-1]["message"], user_turns(history)) == (said, said, [asked])
    events = streamed(client, message=asked)
    assert "".join(texts(events)) == said
    response = events[-1]["response"]
    history = response["chat_history"]
    assert (response["text"], history[-1]["message"], user_turns(history)) == (said, said, [asked])
    assert findings(gateway, 2) == ["response:redact:email"] * 2


def test_restore_puts_the_request_values_back_in_the_users_turns_and_reads_nothing_there(
    gateway: RunningGateway, upstream: FakeCohere, client: cohere.Client
) -> None:
    # Request values redacted upstream and restored; a rule for answers only, whose word is the
    # user's: it is not the answer's, so nothing is blocked (whole) or redacted (streamed).
    gateway.configure(
        guardrails={
            "pii": {"action": "redact", "entities": ["email"]},
            "custom": [{"name": "project", "words": ["Falcon"], "action": "block", "direction": "response"}],
            "restore": True,
        }
    )
    history: list[Any] = [
        {"role": "USER", "message": "hi bob@example.com, about Falcon"},
        {"role": "CHATBOT", "message": "ok"},
        {
            "role": "TOOL",
            "tool_results": [
                {"call": {"name": "f", "parameters": {}}, "outputs": [{"by": "eve@example.com"}]}
            ],
        },
    ]
    asked = "write to carol@example.net"
    answer = json.loads(client.chat(model=MODEL, message=asked, chat_history=history).json())
    assert "bob@" not in upstream.requests[0].body.decode()
    events = streamed(client, message=asked, chat_history=history)
    for said in (answer, events[-1]["response"]):
        assert said["text"] == f"echo: {asked}"
        assert user_turns(said["chat_history"]) == [history[0]["message"], asked]
        (tool,) = [turn for turn in said["chat_history"] if turn["role"] == "TOOL"]
        assert tool["tool_results"][0]["outputs"] == [{"by": "eve@example.com"}]
    assert "".join(texts(events)) == f"echo: {asked}"


def test_a_cached_stream_replayed_is_read_line_by_line(
    gateway: RunningGateway, upstream: FakeCohere, http: httpx.Client
) -> None:
    gateway.configure(guardrails=REDACT, cache_enabled=True)
    first = lines(gateway, http, {"message": ASKED})  # stored as the upstream sent it
    url = f"{gateway.provider_url('cohere')}/v1/chat"
    body = {"model": MODEL, "stream": True, "message": ASKED}
    hit = http.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert hit.headers["cf-aig-cache-status"] == "HIT"
    assert len(upstream.requests) == 1
    assert "MIIEvQ" not in model_said(parsed_lines(hit.content))
    assert hit.content.splitlines() == first
