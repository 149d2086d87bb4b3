"""How big a realtime session's messages may be (`limits.realtime_message_bytes`): by default as big
as OpenAI's largest `input_audio_buffer.append` (15 MiB of audio, base64 in the event: 20 MiB),
and a message of the upstream's over the limit closes the client with 1009 and says why (the
client's own: `test_realtime.py`). A real gateway on loopback, the fake Realtime upstream, and the
official SDK's realtime client (the `websockets` client it is built on, for the close reason).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import RunningGateway
from tests.fakes.realtime_server import AUDIO_BYTES_PER_TOKEN, FakeRealtime
from tests.integration.test_realtime import kind, open_session, sdk_session, stored, until

OPENAI_LARGEST_APPEND = 15 * 1024 * 1024  # bytes of audio in one event, as OpenAI documents


@pytest.fixture
def realtime() -> Iterator[FakeRealtime]:
    with FakeRealtime().serve() as fake:
        yield fake


def test_an_append_of_openais_largest_audio_passes_with_the_default_limit(
    make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime
) -> None:
    gateway = make_gateway(upstreams={"openai": realtime.base_url})  # the default limits
    audio = base64.b64encode(bytes(OPENAI_LARGEST_APPEND)).decode()
    with sdk_session(gateway) as session:
        until(session.recv_bytes, "session.created")
        session.input_audio_buffer.append(audio=audio)
        session.response.create()
        done = json.loads(until(session.recv_bytes, "response.done")[-1])
    details = done["response"]["usage"]["input_token_details"]
    assert details["audio_tokens"] == OPENAI_LARGEST_APPEND // AUDIO_BYTES_PER_TOKEN
    [record] = gateway.wait_for_logs(1)
    assert record["error"] is None


def test_an_upstream_message_over_the_limit_closes_the_client_with_1009_and_why(
    make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime
) -> None:
    gateway = make_gateway(upstreams={"openai": realtime.base_url}, limits={"realtime_message_bytes": 1000})
    # A question just under the limit: the upstream's `conversation.item.added`, which repeats it
    # with an id and a status, is over it.
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ""}]}
    event = {"type": "conversation.item.create", "item": item}
    item["content"][0]["text"] = "x" * (990 - len(json.dumps(event)))
    with open_session(gateway) as session:
        assert kind(session.recv()) == "session.created"
        session.send(json.dumps(event))
        with pytest.raises(ConnectionClosed) as closed:
            session.recv(timeout=10)
    reason = "the upstream sent a message over limits.realtime_message_bytes"
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, reason)
    [record] = gateway.wait_for_logs(1)
    assert record["error"] == f"session closed: {reason}"
    assert json.loads(stored(gateway, record)["response_body"])["closed"]["code"] == 1009
