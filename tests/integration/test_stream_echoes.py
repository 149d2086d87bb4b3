"""A stored provider key an upstream quotes after its answer has begun is not shown to the client:
an error event in the middle of a 200 stream (OpenAI's `data: {"error": …}` after a content chunk,
Anthropic's `event: error` after content deltas), and a realtime session's events (text and
binary) and close reason after the handshake. The client's own key quoted back to it is left as
it is, and so is the model's text that says a custom provider's stored header that is no
credential (`X-Title`, `HTTP-Referer`).

A real gateway on loopback, the project's fake upstreams (`error-mid-stream,quote-key`: the error
quotes the key the fake got; `one-delta`: the text in one content chunk; the realtime fake's
`fake.error` and `fake.close` with `quote_key`, and its echo of a binary frame), stored keys and a
custom provider set through the admin API; the clients are the openai and anthropic SDKs (and,
for a close reason and binary frames the openai SDK does not show, the `websockets` client it is
built on).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_error_echoes import run_token
from tests.integration.test_realtime import SDK_SOCKET, kind, ws_url

GATEWAY = "/api/v1/accounts/local/gateways/default"
STORED_OPENAI = "sk-proj-STORED-openai-0123456789abcdef"
STORED_ANTHROPIC = "sk-ant-api03-STORED-anthropic-0123456789"
OWN = "sk-proj-own-key-of-the-client-0123456789"
BEHAVIOR = "x-fake-behavior"
QUOTING = {BEHAVIOR: "error-mid-stream,quote-key"}
USER: Any = [{"role": "user", "content": "tell me about the weather"}]
NO_KEY = {"Authorization": openai.Omit()}  # the SDK then sends no key: the gateway brings its own
STORED_CUSTOM = "sk-custom-STORED-acme-0123456789abcdef"
TITLE, SITE = "Acme Support Assistant", "https://acme.example.com"  # OpenRouter's attribution headers


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an:
        yield oa, an


@pytest.fixture
def gw(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeOpenAI, FakeAnthropic]
) -> RunningGateway:
    oa, an = upstreams
    gateway = make_gateway(
        upstreams={"openai": oa.base_url, "anthropic": an.base_url}, secret_key="master-key-for-stream-echoes"
    )
    for provider, key in (("openai", STORED_OPENAI), ("anthropic", STORED_ANTHROPIC)):
        stored = gateway.http.put(f"{GATEWAY}/provider-keys/{provider}", json={"key": key})
        assert stored.status_code == 201, stored.text
    return gateway


def newest_record(gw: RunningGateway, count: int) -> dict[str, Any]:
    newest = gw.wait_for_logs(count)[0]
    record: dict[str, Any] = gw.http.get(f"{GATEWAY}/logs/{newest['id']}").json()
    return record


def chat_deltas(
    client: openai.OpenAI, into: list[str | None], messages: Any = USER, behavior: str = QUOTING[BEHAVIOR]
) -> None:
    """Stream a chat answer that errs after its first chunk, its deltas `into` a list."""
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, extra_headers={BEHAVIOR: behavior}
    ):
        into.append(chunk.choices[0].delta.content)


def message_texts(client: anthropic.Anthropic, into: list[str]) -> None:
    """Stream a message that errs after its first content deltas, its texts `into` a list."""
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=USER, extra_headers=QUOTING
    ) as stream:
        into.extend(stream.text_stream)


def test_an_openai_error_event_mid_stream_does_not_show_the_stored_key_it_quotes(gw: RunningGateway) -> None:
    received: list[str | None] = []
    client = openai.OpenAI(base_url=gw.provider_url("openai"), api_key=run_token(gw), max_retries=0)
    with client, pytest.raises(openai.APIError) as raised:
        chat_deltas(client, received)
    assert received == ["echo:"]  # the answer had begun: a 200 stream, not an error answer
    assert raised.value.message.endswith("Sorry about that! Key used: [redacted].")
    assert STORED_OPENAI not in str(raised.value.body)
    # The record has the masked stream and error (the stored key as sent, `Bearer …`, nowhere).
    record = newest_record(gw, 1)
    assert record["error"].endswith('Key used: [redacted].","type":"server_error","param":null,"code":null}}')
    assert "Key used: [redacted]." in record["response_body"]
    assert STORED_OPENAI not in json.dumps(record)

    # The client's own key, quoted back to it, is its own: left as it is.
    own = openai.OpenAI(base_url=gw.provider_url("openai"), api_key=OWN, max_retries=0)
    with own, pytest.raises(openai.APIError) as quoted:
        chat_deltas(own, [])
    assert quoted.value.message.endswith(f"Key used: {OWN}.")


def test_an_anthropic_error_event_after_content_does_not_show_the_stored_key_it_quotes(
    gw: RunningGateway,
) -> None:
    client = anthropic.Anthropic(base_url=gw.provider_url("anthropic"), api_key=run_token(gw), max_retries=0)
    texts: list[str] = []
    with client, pytest.raises(anthropic.APIStatusError) as raised:
        message_texts(client, texts)
    assert texts  # content deltas came before the error
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded Key used: [redacted]."},
    }
    assert STORED_ANTHROPIC not in str(raised.value)
    assert STORED_ANTHROPIC not in json.dumps(newest_record(gw, 1))


def test_a_custom_providers_stored_title_the_model_says_is_left_while_its_stored_key_is_masked(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    oa, _ = upstreams
    gateway = make_gateway(allowed_hosts=[oa.url.removeprefix("http://")], secret_key="master-key-for-echoes")
    headers = {"Authorization": f"Bearer {STORED_CUSTOM}", "X-Title": TITLE, "HTTP-Referer": SITE}
    created = gateway.http.post(
        "/api/v1/accounts/local/custom-providers",
        json={"name": "Acme", "slug": "acme", "base_url": oa.base_url, "headers": headers},
    )
    assert created.status_code == 201, created.text
    said = f"I am the {TITLE} of {SITE}"
    received: list[str | None] = []
    client = openai.OpenAI(
        base_url=gateway.provider_url("custom-acme"), api_key="sk-client-own", max_retries=0
    )
    with client, pytest.raises(openai.APIError) as raised:
        chat_deltas(
            client, received, [{"role": "user", "content": said}], "one-delta,error-mid-stream,quote-key"
        )
    # The model's text, one delta that says the stored title and site, reaches the client as it was.
    assert received == [f"echo: {said}"]
    # The stored key the upstream quotes after it does not.
    assert raised.value.message.endswith("Key used: [redacted].")
    assert STORED_CUSTOM not in str(raised.value.body)
    sent = oa.requests[-1]
    assert (sent.header("authorization"), sent.header("x-title")) == (f"Bearer {STORED_CUSTOM}", TITLE)
    assert STORED_CUSTOM not in json.dumps(newest_record(gateway, 1))


def test_a_realtime_upstreams_events_and_close_reason_do_not_show_the_stored_key(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    with FakeRealtime().serve() as realtime:
        gateway = make_gateway(upstreams={"openai": realtime.base_url}, secret_key="master-key-for-realtime")
        stored = gateway.http.put(f"{GATEWAY}/provider-keys/openai", json={"key": STORED_OPENAI})
        assert stored.status_code == 201, stored.text
        for headers, shown in ((NO_KEY, "[redacted]"), ({"Authorization": f"Bearer {OWN}"}, OWN)):
            with (
                openai.OpenAI(
                    base_url=gateway.provider_url("openai"),
                    api_key="-",
                    default_headers=headers,
                    max_retries=0,
                ) as client,
                client.realtime.connect(
                    model="gpt-realtime", websocket_connection_options=SDK_SOCKET
                ) as session,
            ):
                assert kind(session.recv_bytes()) == "session.created"
                session.send_raw('{"type": "fake.error"}')
                error = json.loads(session.recv_bytes())  # still JSON, masked or not
            assert error["type"] == "error"
            assert error["error"]["message"] == f"Incorrect API key provided: {shown}."
        # The stored key is what the upstream got, and quoted, on the keyless session.
        assert realtime.connections[0].headers["Authorization"] == f"Bearer {STORED_OPENAI}"
        assert STORED_OPENAI in str(realtime.connections[0].sent[-1])

        # A close reason the upstream gives is passed on to the client, masked too.
        with connect(ws_url(gateway, "openai/realtime?model=gpt-realtime"), open_timeout=10) as socket:
            assert kind(socket.recv()) == "session.created"
            socket.send(json.dumps({"type": "fake.close", "code": 4000, "reason": "bye", "quote_key": True}))
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye [redacted]")

        # A binary frame (the fake echoes one back) is masked as a text event is.
        with connect(ws_url(gateway, "openai/realtime?model=gpt-realtime"), open_timeout=10) as socket:
            assert kind(socket.recv()) == "session.created"
            socket.send(b"\x00\x01 " + STORED_OPENAI.encode() + b" \xff")
            assert socket.recv() == b"\x00\x01 [redacted] \xff"
        assert realtime.connections[-1].sent[-1] == b"\x00\x01 " + STORED_OPENAI.encode() + b" \xff"
        records = gateway.wait_for_logs(4)
        assert STORED_OPENAI not in json.dumps(
            [gateway.http.get(f"{GATEWAY}/logs/{r['id']}").json() for r in records]
        )
