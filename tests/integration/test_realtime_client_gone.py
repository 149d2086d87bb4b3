"""A realtime client that goes away while a response is under way: the gateway cancels it upstream
(`response.cancel`) and charges the usage its `response.done` reports, as for any response; a
client could otherwise start responses and hang up to run them unmetered."""

# ruff: noqa: F811  (the fixtures are test_realtime's)

from __future__ import annotations

import json
import socket

import pytest
from websockets.sync.client import ClientConnection

from sluicegate.pipeline.log import CLIENT_GONE
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_realtime import (  # noqa: F401  (fixtures)
    MODEL,
    QUESTION,
    gateway,
    kind,
    open_session,
    realtime,
    stored,
    until,
)

QUESTION_TOKENS = 6 + 8  # the fake's input: the conversation's words, plus 8


def go_away(session: ClientConnection, how: str) -> None:
    if how == "close":
        session.close(1000, "bye")
        return
    session.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the connection is just gone
    session.close()


def leave_a_started_response(gateway: RunningGateway, how: str, hold: dict[str, object]) -> None:
    """Start a response that goes on no further than `response.created` (and a word), then leave."""
    with open_session(gateway) as session:
        until(session.recv, "session.created")
        session.send(QUESTION)
        session.send(json.dumps({"type": "fake.hold", **hold}))
        session.send('{"type": "response.create"}')
        until(session.recv, "response.created")
        go_away(session, how)


@pytest.mark.parametrize("how", ["drop", "close"])
def test_a_response_the_client_left_is_cancelled_upstream_and_charged(
    gateway: RunningGateway, realtime: FakeRealtime, how: str
) -> None:
    leave_a_started_response(gateway, how, {})

    [record] = gateway.wait_for_logs(1)
    [upstream] = realtime.connections
    [cancel] = [json.loads(f) for f in upstream.received if kind(f) == "response.cancel"]
    assert cancel == {"type": "response.cancel", "response_id": "resp_fake_0001"}
    done = json.loads(upstream.sent[-1])
    assert (done["type"], done["response"]["status"]) == ("response.done", "cancelled")
    assert (record["tokens_in"], record["tokens_out"]) == (QUESTION_TOKENS, 1)  # its first word
    expected = PriceTable().cost("openai", MODEL, Usage(QUESTION_TOKENS, 1))
    assert expected is not None
    assert record["cost_usd"] == pytest.approx(expected)
    assert record["error"] == CLIENT_GONE
    assert record["metadata"]["realtime_responses"] == 1
    assert json.loads(stored(gateway, record)["response_body"])["closed"]["by"] == "client"


def test_a_cancel_never_answered_leaves_the_usage_unknown_and_says_so(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    leave_a_started_response(gateway, "drop", {"ignore_cancel": True})

    [record] = gateway.wait_for_logs(1)  # after the relay's wait for the answer
    [upstream] = realtime.connections
    assert [kind(f) for f in upstream.received].count("response.cancel") == 1
    assert record["error"] == f"{CLIENT_GONE}; its usage is unknown"
    assert (record["tokens_in"], record["cost_usd"]) == (None, None)
    assert upstream.closed_with == 1001  # closed once the wait was over
