"""The universal endpoint's WebSockets API (Cloudflare's non-realtime one): `universal.create`
messages over one connection, each run as a POST to the universal endpoint is, against the fake
OpenAI upstream, with the `websockets` client a Python app would use.
https://developers.cloudflare.com/ai-gateway/usage/websockets-api/non-realtime-api/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "what is the weather like today"
ANSWER = f"echo: {QUESTION}"
PAUSED = {"x-fake-behavior": "pause-stream", "x-fake-gate": "first"}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def ws_url(gateway: RunningGateway, slug: str = "default") -> str:
    # With the trailing slash of Cloudflare's example (`wss://…/v1/my-account-id/my-gateway/`).
    return f"{gateway.url.replace('http://', 'ws://')}/v1/local/{slug}/"


def step(model: str, *, stream: bool = False, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-test", "Content-Type": "application/json", **(headers or {})},
        "query": {"model": model, "messages": [{"role": "user", "content": QUESTION}], "stream": stream},
    }


def create(request: dict[str, Any], event_id: str) -> str:
    """A `universal.create` as Cloudflare's example writes it: the eventId in the request."""
    return json.dumps({"type": "universal.create", "request": {"eventId": event_id, **request}})


def receive(socket: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(socket.recv(timeout=10))
    return event


def until(socket: ClientConnection, kind: str, event_id: str) -> list[dict[str, Any]]:
    """Events received up to and including the first of `kind` for `event_id`."""
    events = [receive(socket)]
    while (events[-1]["type"], events[-1]["metadata"].get("eventId")) != (kind, event_id):
        events.append(receive(socket))
    return events


def text_of(events: list[dict[str, Any]]) -> str:
    """The answer a stream's `universal.stream` events carry (OpenAI chat chunks)."""
    chunks = [event["response"] for event in events if event["type"] == "universal.stream"]
    return "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])


def test_a_whole_answer_is_universal_created_and_one_log_record_with_its_event_id(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with connect(ws_url(gateway)) as socket:
        socket.send(create(step("gpt-4o-mini"), "my-request"))
        event = receive(socket)

    meta = event["metadata"]
    assert event["type"] == "universal.created"
    assert meta == {  # no `cacheStatus`: no cache applies (the gateway does not cache)
        "eventId": "my-request",
        "logId": meta["logId"],
        "step": "0",
        "contentType": meta["contentType"],
        "status": 200,
    }
    assert meta["contentType"].startswith("application/json")
    assert event["response"]["choices"][0]["message"]["content"] == ANSWER
    assert [request.json["model"] for request in fake.requests] == ["gpt-4o-mini"]
    # A request over HTTP after the socket closed: the records are the two requests, none for the
    # connection itself (it would have been written when it closed, before the HTTP one).
    assert gateway.http.post("/v1/local/default", json=[step("gpt-4o")]).status_code == 200
    records = gateway.wait_for_logs(2)
    assert [record["model"] for record in records] == ["gpt-4o", "gpt-4o-mini"]
    socket_record = records[1]
    assert socket_record["id"] == meta["logId"]
    assert socket_record["status"] == 200
    assert socket_record["metadata"]["websocket_event_id"] == "my-request"


def test_a_stream_is_created_then_its_events_then_done(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with connect(ws_url(gateway)) as socket:
        socket.send(create(step("gpt-4o-mini", stream=True), "streamed"))
        events = until(socket, "universal.done", "streamed")

    first, *pieces, last = events
    assert first["type"] == "universal.created"
    assert "response" not in first
    assert first["metadata"]["contentType"].startswith("text/event-stream")
    assert {event["type"] for event in pieces} == {"universal.stream"}
    assert all(event["metadata"] == {"eventId": "streamed"} for event in pieces)
    assert all(event["response"]["object"] == "chat.completion.chunk" for event in pieces)  # no [DONE]
    assert text_of(pieces) == ANSWER
    assert last["metadata"] == first["metadata"]
    assert "error" not in last
    record = gateway.wait_for_logs(1)[0]
    assert (record["id"], record["status"]) == (first["metadata"]["logId"], 200)
    assert record["metadata"]["websocket_event_id"] == "streamed"
    assert record["tokens_out"] == len(ANSWER.split())


def test_two_requests_on_one_connection_run_at_once_and_are_answered_as_they_finish(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with connect(ws_url(gateway)) as socket:
        socket.send(create(step("gpt-4o", stream=True, headers=PAUSED), "slow"))
        assert fake.pause("first").chunk_sent.wait(10)
        socket.send(create(step("gpt-4o-mini"), "quick"))
        before = until(socket, "universal.created", "quick")
        fake.release("first")
        after = until(socket, "universal.done", "slow")

    quick = before.pop()
    assert quick["response"]["model"] == "gpt-4o-mini"
    # Everything before the quick answer was the slow stream's, which ended only once released.
    assert {event["metadata"]["eventId"] for event in before} == {"slow"}
    assert "universal.done" not in [event["type"] for event in before]
    assert {event["metadata"]["eventId"] for event in after} == {"slow"}
    assert text_of(before + after) == ANSWER
    records = gateway.wait_for_logs(2)
    assert sorted(record["metadata"]["websocket_event_id"] for record in records) == ["quick", "slow"]


def test_a_failing_step_falls_back_to_the_next_as_over_http(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    # Steps as an array, the eventId beside `type` (as some clients send it).
    message = {
        "type": "universal.create",
        "eventId": "fallback",
        "request": [step("error-500"), step("gpt-4o")],
    }
    with connect(ws_url(gateway)) as socket:
        socket.send(json.dumps(message))
        event = receive(socket)

    assert (event["metadata"]["eventId"], event["metadata"]["step"]) == ("fallback", "1")
    assert (event["metadata"]["status"], event["response"]["model"]) == (200, "gpt-4o")
    assert [request.json["model"] for request in fake.requests] == ["error-500", "gpt-4o"]
    record = gateway.wait_for_logs(1)[0]
    assert (record["step"], record["metadata"]["websocket_event_id"]) == (1, "fallback")
    assert [(attempt["step"], attempt["status"]) for attempt in record["attempts"]] == [(0, 500), (1, 200)]


def run_token(gateway: RunningGateway) -> str:
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_an_authenticated_gateway_refuses_a_connection_without_its_token(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(authentication=True)
    token = run_token(gateway)

    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway))
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"
    with pytest.raises(InvalidStatus) as unknown:
        connect(ws_url(gateway, "nowhere"), additional_headers={"cf-aig-authorization": f"Bearer {token}"})
    assert unknown.value.response.status_code == 404

    # The header, as Cloudflare's example sends it; also in the request's headers, as a workaround
    # for Cloudflare's own gateway has it (cloudflare-docs#24142): the request's own, not a step's.
    authorized = {"cf-aig-authorization": f"Bearer {token}"}
    with connect(ws_url(gateway), additional_headers=authorized) as socket:
        socket.send(create(step("gpt-4o", headers=authorized), "header"))
        assert receive(socket)["metadata"]["status"] == 200
    # A browser's: the token as Cloudflare's subprotocol, which the gateway chooses.
    protocol = f"cf-aig-authorization.{token}"
    with connect(ws_url(gateway), subprotocols=[Subprotocol(protocol)]) as socket:
        assert socket.subprotocol == protocol
        socket.send(create(step("gpt-4o"), "subprotocol"))
        assert receive(socket)["metadata"]["status"] == 200

    assert len(fake.requests) == 2
    records = gateway.wait_for_logs(3)
    assert [record["status"] for record in records] == [200, 200, 401]


def test_a_malformed_message_is_answered_with_an_error_and_the_connection_goes_on(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    no_query = {key: value for key, value in step("gpt-4o").items() if key != "query"}
    with connect(ws_url(gateway)) as socket:
        socket.send("tell me a joke")
        not_json = receive(socket)
        socket.send(json.dumps({"type": "universal.cancel", "request": {"eventId": "typo"}}))
        unknown_type = receive(socket)
        socket.send(create(no_query, "no-query"))
        refused_step = receive(socket)
        socket.send(create(step("gpt-4o"), "after"))
        answered = receive(socket)

    for event in (not_json, unknown_type, refused_step):
        assert (event["type"], event["metadata"]["status"]) == ("universal.created", 400)
        assert event["response"]["error"]["code"] == "bad_request"
    assert "eventId" not in not_json["metadata"]
    assert "universal.cancel" in unknown_type["response"]["error"]["message"]
    assert unknown_type["metadata"]["eventId"] == "typo"
    assert refused_step["metadata"]["eventId"] == "no-query"
    assert refused_step["response"]["error"]["field"] == "query"
    assert (answered["metadata"]["eventId"], answered["metadata"]["status"]) == ("after", 200)
    # Only what was a request is logged: the step the planner refused, and the answered one.
    # (By eventId: two records written in the same instant may be listed either way.)
    records = gateway.wait_for_logs(2)
    by_event = {record["metadata"]["websocket_event_id"]: record["status"] for record in records}
    assert by_event == {"no-query": 400, "after": 200}
    assert [request.json["model"] for request in fake.requests] == ["gpt-4o"]


def test_a_message_past_the_requests_a_connection_may_have_under_way_is_refused_not_run(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, limits={"websocket_requests_in_flight": 1})
    with connect(ws_url(gateway)) as socket:
        socket.send(create(step("gpt-4o", stream=True, headers=PAUSED), "running"))
        assert fake.pause("first").chunk_sent.wait(10)
        socket.send(create(step("gpt-4o-mini"), "one-too-many"))
        before = until(socket, "universal.created", "one-too-many")
        fake.release("first")
        until(socket, "universal.done", "running")
        socket.send(create(step("gpt-4o-mini"), "later"))
        later = receive(socket)

    refused = before.pop()
    assert refused["metadata"]["status"] == 429
    assert refused["response"]["error"]["code"] == "too_many_requests_in_flight"
    assert later["metadata"]["status"] == 200
    assert [request.json["model"] for request in fake.requests] == ["gpt-4o", "gpt-4o-mini"]


def test_a_single_steps_gateway_headers_are_the_requests_own(gateway: RunningGateway) -> None:
    metadata = {"cf-aig-metadata": json.dumps({"user": "ada"}), "cf-aig-cache-ttl": "600"}
    with connect(ws_url(gateway)) as socket:
        for event_id in ("asked", "again"):
            socket.send(create(step("gpt-4o", headers=metadata), event_id))
            assert receive(socket)["metadata"]["status"] == 200

    first, second = reversed(gateway.wait_for_logs(2))
    assert first["metadata"] == {"user": "ada", "websocket_event_id": "asked"}
    assert (first["cache_status"], second["cache_status"]) == ("MISS", "HIT")  # a step's own ttl


def test_cache_status_is_what_the_cf_aig_cache_status_header_says_over_http(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """HIT, MISS or BYPASS as the header says; absent where no cache applies, as the header is."""
    plain = step("gpt-4o")
    cached = step("gpt-4o-mini", headers={"cf-aig-cache-ttl": "60"})
    declined = step("gpt-4o-mini", headers={"cf-aig-cache-ttl": "60", "cf-aig-skip-cache": "true"})
    over_http = [
        gateway.http.post("/v1/local/default", json=[request]) for request in (plain, cached, cached)
    ]
    assert [response.headers.get("cf-aig-cache-status") for response in over_http] == [None, "MISS", "HIT"]
    statuses = {}
    with connect(ws_url(gateway)) as socket:
        for event_id, request in (("plain", plain), ("cached", cached), ("declined", declined)):
            socket.send(create(request, event_id))
            statuses[event_id] = until(socket, "universal.created", event_id)[-1]["metadata"].get(
                "cacheStatus"
            )
    assert statuses == {"plain": None, "cached": "HIT", "declined": "BYPASS"}
