"""Realtime sessions through the gateway: a WebSocket upgrade of `…/openai/realtime?model=…` (and
Azure OpenAI's realtime path) relayed to a fake Realtime server on loopback.

The main flows use the official `openai` SDK's realtime client (`client.realtime.connect`), which
works against a custom base URL. The close-code and refusal tests use the `websockets` client the
SDK itself is built on: the SDK turns an abnormal close into reconnect attempts and an HTTP refusal
of the handshake into a generic error, hiding the codes those tests check.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.resources.realtime.realtime import RealtimeConnection
from openai.types.realtime import ResponseTextDeltaEvent
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.realtime_server import FakeRealtime

KEY = "sk-proj-realtime-0123456789abcdef"
MODEL = "gpt-realtime"
BINARY = bytes(range(256)) * 3
# Client events as the test writes them, spacing and key order included: they must arrive as sent.
QUESTION = (
    '{"type": "conversation.item.create",  "item": {"type": "message", "role": "user",'
    ' "content": [{"type": "input_text", "text": "what is the weather like today"}]}}'
)
AUDIO = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4000)).decode()})
# websockets 17.1+ warns (an error here) when `connect()` is not a context manager, as the SDK uses
# it; `legacy=True` is websockets' documented way to connect directly.
SDK_SOCKET: Any = {"legacy": True}
EMAILS_IN_ANSWERS_REDACTED = {"pii": {"action": "redact", "entities": ["email"], "direction": "response"}}
AUDIO_OUT = '{"session": {"type": "realtime", "output_modalities": ["audio"]}, "type": "session.update"}'


@pytest.fixture
def realtime() -> Iterator[FakeRealtime]:
    with FakeRealtime().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime) -> RunningGateway:
    return make_gateway(upstreams={"openai": realtime.base_url, "azure-openai": realtime.url})


@contextlib.contextmanager
def sdk_session(gateway: RunningGateway) -> Iterator[RealtimeConnection]:
    """A realtime session through the gateway, opened by the official SDK."""
    with (
        openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=KEY, max_retries=0) as client,
        client.realtime.connect(model=MODEL, websocket_connection_options=SDK_SOCKET) as connection,
    ):
        yield connection


def ws_url(gateway: RunningGateway, path: str = f"openai/realtime?model={MODEL}") -> str:
    return f"{gateway.url.replace('http://', 'ws://')}/v1/local/default/{path}"


def kind(frame: bytes | str) -> str:
    return str(json.loads(frame)["type"])


def until(receive: Callable[[], bytes | str], last: str) -> list[bytes | str]:
    """Frames received up to and including the first event of type `last`."""
    frames = [receive()]
    while not is_json(frames[-1]) or kind(frames[-1]) != last:
        frames.append(receive())
    return frames


def is_json(frame: bytes | str) -> bool:
    return isinstance(frame, str) or frame.startswith(b"{")


def usage_of(done: dict[str, Any]) -> Usage:
    raw = done["response"]["usage"]
    details, out = raw["input_token_details"], raw["output_token_details"]
    return Usage(
        input_tokens=raw["input_tokens"],
        output_tokens=raw["output_tokens"],
        cached_tokens=details["cached_tokens"],
        input_audio_tokens=details["audio_tokens"],
        cached_audio_tokens=details["cached_tokens_details"]["audio_tokens"],
        output_audio_tokens=out["audio_tokens"],
    )


def session_usage(frames: list[bytes | str]) -> Usage:
    total = Usage()
    for frame in frames:
        if is_json(frame) and kind(frame) == "response.done":
            total = total.plus(usage_of(json.loads(frame)))
    return total


def as_bytes(frames: list[bytes | str]) -> list[bytes]:
    return [frame.encode() if isinstance(frame, str) else bytes(frame) for frame in frames]


def test_a_session_is_relayed_frame_by_frame_and_logged_once_with_its_usage_and_cost(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    with sdk_session(gateway) as connection:
        received = until(connection.recv_bytes, "session.created")
        connection.send_raw(AUDIO_OUT)
        received += until(connection.recv_bytes, "session.updated")
        connection.send_raw(QUESTION)
        received += until(connection.recv_bytes, "conversation.item.added")
        connection.send_raw(AUDIO)
        connection.send_raw(BINARY)
        received.append(connection.recv_bytes())  # the binary frame, echoed
        connection.response.create()
        received += until(connection.recv_bytes, "response.done")
        connection.input_audio_buffer.commit()  # the server starts the next response itself
        received += until(connection.recv_bytes, "response.done")

    [upstream] = realtime.connections
    assert upstream.path == "/v1/realtime"
    assert upstream.query == {"model": MODEL}
    assert upstream.headers["Authorization"] == f"Bearer {KEY}"
    # Every frame arrived as it was sent, text and binary, both ways.
    assert as_bytes(received) == as_bytes(upstream.sent)
    assert upstream.received[:4] == [AUDIO_OUT, QUESTION, AUDIO, BINARY]
    assert [kind(frame) for frame in upstream.received[4:]] == [
        "response.create",
        "input_audio_buffer.commit",
    ]

    usage = session_usage(received)
    assert usage.input_audio_tokens == 2 * 40  # 4000 bytes of audio, in the input of both responses
    assert usage.output_audio_tokens > 0
    [record] = gateway.wait_for_logs(1)
    assert (record["status"], record["endpoint"], record["model"]) == (101, "realtime", MODEL)
    assert (record["tokens_in"], record["tokens_out"]) == (usage.input_tokens, usage.output_tokens)
    assert record["cached_tokens"] == usage.cached_tokens > 0
    assert record["usage_estimated"] is False
    expected = PriceTable().cost("openai", MODEL, usage)
    text_only = PriceTable().cost(
        "openai", MODEL, Usage(usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    )
    assert expected is not None
    assert text_only is not None
    assert record["cost_usd"] == pytest.approx(expected)
    assert record["cost_usd"] > text_only  # audio tokens are billed at their own, higher, price
    assert record["metadata"] == {
        "realtime_client_events": len(upstream.received),
        "realtime_server_events": len(upstream.sent),
        "realtime_responses": 2,
    }
    whole = stored(gateway, record)
    assert whole["request_headers"]["authorization"] == "[redacted]"
    summary = json.loads(whole["response_body"])
    assert summary["events"]["client"]["response.create"] == 1
    assert summary["binary_frames"] == {"client": 1, "server": 1}
    assert summary["closed"]["by"] == "client"


def test_azure_openai_realtime_through_the_azure_sdk(gateway: RunningGateway, realtime: FakeRealtime) -> None:
    azure_key = "azure-realtime-key-0123456789"
    with (
        openai.AzureOpenAI(
            api_key=azure_key,
            api_version="2025-04-01-preview",
            azure_endpoint=f"{gateway.provider_url('azure-openai')}/my-resource",
            websocket_base_url=ws_url(gateway, "azure-openai/my-resource/openai"),
            max_retries=0,
        ) as client,
        client.realtime.connect(model="my-realtime", websocket_connection_options=SDK_SOCKET) as connection,
    ):
        until(connection.recv_bytes, "session.created")
        connection.send_raw(QUESTION)
        connection.response.create()
        frames = until(connection.recv_bytes, "response.done")

    [upstream] = realtime.connections
    assert upstream.path == "/openai/realtime"
    assert upstream.query == {"api-version": "2025-04-01-preview", "deployment": "my-realtime"}
    assert upstream.headers["api-key"] == azure_key
    usage = session_usage(frames)
    [record] = gateway.wait_for_logs(1)
    assert (record["provider"], record["model"], record["status"]) == ("azure-openai", "my-realtime", 101)
    # The path below the provider, resource included, as Azure's HTTP requests are logged.
    assert record["endpoint"] == "my-resource/openai/realtime"
    assert (record["tokens_in"], record["tokens_out"]) == (usage.input_tokens, usage.output_tokens)
    assert stored(gateway, record)["request_headers"]["api-key"] == "[redacted]"


def open_session(gateway: RunningGateway, path: str = f"openai/realtime?model={MODEL}") -> ClientConnection:
    return connect(
        ws_url(gateway, path), additional_headers={"Authorization": f"Bearer {KEY}"}, open_timeout=10
    )


@pytest.mark.parametrize(
    ("command", "code", "reason"),
    [
        ({"type": "fake.close", "code": 4002, "reason": "session expired"}, 4002, "session expired"),
        ({"type": "fake.close", "code": 1000, "reason": "done"}, 1000, "done"),
        ({"type": "fake.drop"}, 1014, "the upstream connection was lost"),
    ],
    ids=["own-code", "normal", "dropped"],
)
def test_a_closed_upstream_closes_the_client_with_its_code(
    gateway: RunningGateway, command: dict[str, Any], code: int, reason: str
) -> None:
    with open_session(gateway) as session:
        assert kind(session.recv()) == "session.created"
        session.send(json.dumps(command))
        with pytest.raises(ConnectionClosed) as closed:
            session.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == 101
    assert (record["error"] is None) == (code == 1000)
    assert json.loads(stored(gateway, record)["response_body"])["closed"] == {
        "by": "upstream",
        "code": 1006 if code == 1014 else code,
        "reason": reason,
    }


def test_a_client_message_over_realtime_message_bytes_closes_the_session(
    make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime
) -> None:
    gateway = make_gateway(upstreams={"openai": realtime.base_url}, limits={"realtime_message_bytes": 1000})
    with open_session(gateway) as session:
        assert kind(session.recv()) == "session.created"
        session.send(QUESTION)  # under the limit: relayed
        assert kind(session.recv()) == "conversation.item.added"
        session.send(AUDIO)  # over it
        with pytest.raises(ConnectionClosed) as closed:
            session.recv(timeout=10)  # a relayed append has no answer: without the close, a TimeoutError
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # The record says why, as it does for a close of the upstream's.
    [record] = gateway.wait_for_logs(1)
    reason = "the client sent a message over limits.realtime_message_bytes"
    assert record["error"] == f"session closed: {reason}"
    assert record["metadata"]["realtime_client_events"] == 1  # the question; not the append
    summary = json.loads(stored(gateway, record)["response_body"])
    assert summary["closed"] == {"by": "gateway", "code": 1009, "reason": reason}
    assert realtime.connections[0].closed_with == 1000  # the gateway ended the session


def test_a_spent_budget_closes_the_session_before_the_next_response(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    rule = {"name": "realtime budget", "limit": 0.05, "period": 86400, "unit": "cost"}
    set_settings(gateway, rate_limits=[rule])
    much_audio = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(400_000)).decode()}
    )
    with open_session(gateway) as session:
        session.recv()
        session.send(QUESTION)
        session.send(much_audio)  # 4,000 audio tokens: $0.128 at gpt-realtime's $32 per million
        session.send('{"type": "response.create"}')
        frames = until(session.recv, "response.done")
        session.send('{"type": "response.create"}')
        with pytest.raises(ConnectionClosed) as closed:
            until(session.recv, "response.done")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "realtime budget" in closed.value.rcvd.reason
    # The refused request never reached the upstream.
    [upstream] = realtime.connections
    assert [kind(f) for f in upstream.received].count("response.create") == 1
    [record] = gateway.wait_for_logs(1)
    assert "realtime budget" in record["error"]
    assert record["cost_usd"] == pytest.approx(PriceTable().cost("openai", MODEL, session_usage(frames)))
    assert record["cost_usd"] > rule["limit"]


def test_rate_limits_apply_at_connect_time(gateway: RunningGateway, realtime: FakeRealtime) -> None:
    set_settings(gateway, rate_limits=[{"limit": 1, "period": 3600}])
    with open_session(gateway) as session:
        assert kind(session.recv()) == "session.created"
    with pytest.raises(InvalidStatus) as refused:
        open_session(gateway)
    assert refused.value.response.status_code == 429
    assert len(realtime.connections) == 1
    records = gateway.wait_for_logs(2)
    assert sorted(record["status"] for record in records) == [101, 429]


def test_a_gateway_token_is_required_at_connect_time(gateway: RunningGateway, realtime: FakeRealtime) -> None:
    set_settings(gateway, authentication=True)
    with pytest.raises(InvalidStatus) as refused:
        open_session(gateway)
    assert refused.value.response.status_code == 401
    token = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "rt", "scopes": ["run"]})
    secret = token.json()["token"]
    headers = {"Authorization": f"Bearer {KEY}", "cf-aig-authorization": f"Bearer {secret}"}
    with connect(ws_url(gateway), additional_headers=headers) as session:
        assert kind(session.recv()) == "session.created"
    assert "cf-aig-authorization" not in realtime.connections[0].headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("openai/realtime?model=error-403", 403),  # the upstream refuses the handshake
        ("anthropic/realtime?model=claude", 404),  # no realtime API to relay to
        ("openai/chat/completions", 404),  # not a realtime path
        ("nowhere/realtime?model=x", 404),
    ],
)
def test_refused_upgrades_are_answered_over_http_and_logged(
    gateway: RunningGateway, path: str, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_session(gateway, path)
    assert refused.value.response.status_code == status
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["message"]
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == status


def stored(gateway: RunningGateway, record: dict[str, Any]) -> dict[str, Any]:
    """The whole record, bodies included (the list leaves them out)."""
    response = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}")
    response.raise_for_status()
    whole: dict[str, Any] = response.json()
    return whole


def set_settings(gateway: RunningGateway, **settings: Any) -> None:
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 200, response.text


def test_a_gateway_that_stops_ends_open_sessions_and_logs_them(
    make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime, tmp_path: Path
) -> None:
    gateway = make_gateway(upstreams={"openai": realtime.base_url}, data_dir=tmp_path)
    with open_session(gateway) as session:
        until(session.recv, "session.created")
        session.send(QUESTION)
        session.send(json.dumps({"type": "response.create"}))
        frames = until(session.recv, "response.done")
        gateway.server.stop()  # the session is still open
        with pytest.raises(ConnectionClosed) as closed:
            session.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001  # going away
    # Started again on the same data: the session was logged, with its usage, before the stop.
    again = make_gateway(upstreams={"openai": realtime.base_url}, data_dir=tmp_path)
    [record] = again.wait_for_logs(1)
    assert (record["status"], record["endpoint"]) == (101, "realtime")
    assert record["tokens_out"] == session_usage(frames).output_tokens > 0


def said(text: str) -> str:
    """A user message as a client event."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "event_id": "event_client_1", "item": item})


def test_the_guardrails_check_a_sessions_client_text_events(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    guardrails = {
        "pii": {"action": "redact", "entities": ["email"]},
        "custom": [{"name": "project", "words": ["Falcon"], "action": "block"}],
    }
    set_settings(gateway, guardrails=guardrails)
    instructions = json.dumps(
        {"type": "session.update", "session": {"instructions": "Mail ops@example.com."}}
    )
    with sdk_session(gateway) as connection:
        until(connection.recv_bytes, "session.created")
        connection.send_raw(said("Write to jane.doe@example.com about the launch"))
        until(connection.recv_bytes, "conversation.item.added")
        connection.send_raw(instructions)
        until(connection.recv_bytes, "session.updated")
        connection.send_raw(said("What is the status of project Falcon?"))
        error = json.loads(connection.recv_bytes())  # the gateway's answer, in the API's own shape
        connection.send_raw(QUESTION)  # the session goes on
        until(connection.recv_bytes, "conversation.item.added")

    assert error["type"] == "error"
    assert error["error"]["code"] == "guardrail_blocked"
    assert error["error"]["event_id"] == "event_client_1"
    assert "Falcon" not in error["error"]["message"]
    [upstream] = realtime.connections
    sent = [json.loads(frame) for frame in upstream.received]
    kinds = [event["type"] for event in sent]
    assert kinds == ["conversation.item.create", "session.update", "conversation.item.create"]
    assert sent[0]["item"]["content"][0]["text"] == "Write to [EMAIL_1] about the launch"
    assert sent[1]["session"]["instructions"] == "Mail [EMAIL_2]."
    assert upstream.received[2] == QUESTION  # nothing to change: relayed as sent, byte for byte
    [record] = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == "request:redact:email, request:block:project"


def test_the_guardrails_check_the_models_text_before_the_client_sees_it(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    set_settings(gateway, guardrails=EMAILS_IN_ANSWERS_REDACTED)
    with sdk_session(gateway) as connection:
        connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "ask jane@example.com"}],
            }
        )
        connection.response.create()  # the fake echoes the text, word by word
        deltas, done, response = [], None, None
        for event in connection:  # the SDK's typed events
            if event.type == "response.output_text.delta":
                # The SDK builds its events unchecked: validate each delta, the gateway's too.
                deltas.append(ResponseTextDeltaEvent.model_validate(event.model_dump()).delta)
            elif event.type == "response.output_text.done":
                done = event.text
            elif event.type == "response.done":
                response = event.response
                break

    assert "".join(deltas) == done == "echo: ask [EMAIL_1]"
    assert response is not None
    assert response.output is not None
    assert response.output[0].model_dump()["content"][0]["text"] == "echo: ask [EMAIL_1]"
    [upstream] = realtime.connections
    assert "jane@example.com" in upstream.received[0]  # a response rule: the request went as it was
    assert any("jane@example.com" in frame for frame in upstream.sent if isinstance(frame, str))
    [record] = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == "response:redact:email"


def test_the_clients_own_values_are_put_back_in_the_models_text_with_restore(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    set_settings(gateway, guardrails={"pii": {"action": "redact", "entities": ["email"]}, "restore": True})
    with sdk_session(gateway) as connection:
        connection.send_raw(said("Write to jane@example.com"))
        connection.response.create()
        frames = [json.loads(frame) for frame in until(connection.recv_bytes, "response.done")]

    [upstream] = realtime.connections
    assert json.loads(upstream.received[0])["item"]["content"][0]["text"] == "Write to [EMAIL_1]"
    deltas = "".join(event["delta"] for event in frames if event["type"] == "response.output_text.delta")
    assert deltas == "echo: Write to jane@example.com"
    [done] = [event for event in frames if event["type"] == "response.output_text.done"]
    assert done["text"] == deltas


def test_the_guardrails_check_an_audio_answers_transcript_in_every_event_that_carries_it(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    set_settings(gateway, guardrails=EMAILS_IN_ANSWERS_REDACTED)
    with sdk_session(gateway) as connection:
        connection.send_raw(AUDIO_OUT)
        until(connection.recv_bytes, "session.updated")
        connection.send_raw(said("call ops@example.com"))
        connection.response.create()
        frames = until(connection.recv_bytes, "response.done")

    events = [json.loads(frame) for frame in frames if is_json(frame)]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["type"], []).append(event)
    expected = "echo: call [EMAIL_1]"
    assert "".join(e["delta"] for e in by_kind["response.output_audio_transcript.delta"]) == expected
    assert by_kind["response.output_audio_transcript.done"][0]["transcript"] == expected
    assert by_kind["response.content_part.done"][0]["part"]["transcript"] == expected
    assert by_kind["response.output_item.done"][0]["item"]["content"][0]["transcript"] == expected
    assert by_kind["response.done"][0]["response"]["output"][0]["content"][0]["transcript"] == expected
    received = as_bytes(frames)
    answer = [frame for frame in received if frame.startswith(b"{") and kind(frame).startswith("response.")]
    assert not any(b"ops@example.com" in frame for frame in answer)  # (the user's own item has it)
    # The audio itself is not read: relayed as it came, one frame per word.
    [upstream] = realtime.connections
    audio = [frame for frame in as_bytes(upstream.sent) if b'"response.output_audio.delta"' in frame]
    assert len(audio) == 3
    assert [frame for frame in received if frame in audio] == audio
