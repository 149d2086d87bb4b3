"""A request of a universal WebSocket that fails with an error the gateway did not mean (a bug):
its client still gets an event for it (endpoints/universal_socket.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from sluicegate.endpoints.universal_events import Create
from sluicegate.endpoints.universal_socket import UniversalSockets, _Connection
from sluicegate.exchange import Exchange, Reply


class Socket:
    """What a connection sends, as the client would read it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_frame(self, message: bytes, kind: WSMsgType) -> None:
        self.sent.append(json.loads(message))


async def broken_stream() -> AsyncGenerator[bytes, None]:
    yield b'data: {"n": 1}\n\n'
    raise RuntimeError("a bug in a stream's rewriting")


async def broken_answer(exchange: Exchange) -> Reply:
    return Reply(200, CIMultiDict({"Content-Type": "text/event-stream"}), stream=broken_stream())


async def test_a_request_that_fails_with_no_gateway_error_is_answered_500_with_its_event_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = UniversalSockets(broken_answer, [], in_flight=1, max_message_bytes=1 << 20, send_timeout=5)
    socket = Socket()
    connection = _Connection(endpoint, cast(web.WebSocketResponse, socket), "local", "default", CIMultiDict())

    await connection._serve(Create("mine", b"{}", CIMultiDict()))

    *_, last = socket.sent
    assert [event["type"] for event in socket.sent] == [
        "universal.created",
        "universal.stream",
        "universal.created",
    ]
    assert (last["metadata"]["eventId"], last["metadata"]["status"]) == ("mine", 500)
    assert last["response"]["error"]["message"] == "internal gateway error"
    assert "a bug in a stream's rewriting" in caplog.text
