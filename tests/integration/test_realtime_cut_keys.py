"""A key an upstream quotes cut off is masked as a whole one is: a realtime close reason holds at
most 123 bytes and a real OpenAI project key is about 164 characters, so an upstream that quotes
its key in one always cuts it. The client of a session on the gateway's stored key reads the
reason masked; the log record's error is masked of the client's own key too.

A real gateway on loopback, the fake Realtime upstream (`fake.close` with `quote_key`, its reason
cut to 123 bytes) and the `websockets` client the openai SDK is built on (the SDK shows no close
reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_realtime import kind, stored, ws_url

GATEWAY = "/api/v1/accounts/local/gateways/default"
# As long as OpenAI's project keys are (`sk-proj-` and 156 more characters).
STORED = "sk-proj-" + ("STOREDKEY-0123456789abcdefghijklmnopqrstuvwxyz_" * 4)[:156]
OWN = "sk-proj-" + ("OWNKEY-9876543210zyxwvutsrqponmlkjihgfedcba_" * 4)[:156]
CLOSE = json.dumps({"type": "fake.close", "code": 4000, "reason": "bye", "quote_key": True})


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    with FakeRealtime().serve() as realtime:
        gateway = make_gateway(upstreams={"openai": realtime.base_url}, secret_key="master-key-for-cut-keys")
        put = gateway.http.put(f"{GATEWAY}/provider-keys/openai", json={"key": STORED})
        assert put.status_code == 201, put.text
        yield gateway


def closed_with_key_quoted(gateway: RunningGateway, headers: dict[str, str]) -> tuple[int, str]:
    """The close code and reason the client gets when the upstream quotes its key in its reason."""
    url = ws_url(gateway, "openai/realtime?model=gpt-realtime")
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        assert kind(socket.recv(timeout=10)) == "session.created"
        socket.send(CLOSE)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_a_stored_key_cut_off_in_a_close_reason_is_masked_for_the_client_and_in_the_log(
    gateway: RunningGateway,
) -> None:
    assert closed_with_key_quoted(gateway, {}) == (4000, "bye [redacted]")
    [record] = gateway.wait_for_logs(1)
    assert record["error"] == "the upstream closed the session with 4000: bye [redacted]"
    assert STORED[:16] not in json.dumps(stored(gateway, record))


def test_the_clients_own_key_cut_off_in_a_close_reason_is_its_own_to_read_but_masked_in_the_log(
    gateway: RunningGateway,
) -> None:
    code, reason = closed_with_key_quoted(gateway, {"Authorization": f"Bearer {OWN}"})
    assert (code, reason) == (4000, f"bye {OWN}"[:123])
    [record] = gateway.wait_for_logs(1)
    assert record["error"] == "the upstream closed the session with 4000: bye [redacted]"
    assert OWN[:16] not in json.dumps(stored(gateway, record))
