"""Reading a `universal.create` and writing the events that answer it (endpoints/universal_events.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from sluicegate.endpoints.universal_events import Malformed, created, read_create, streamed
from sluicegate.exchange import Reply

STEP = {"provider": "workers-ai", "endpoint": "@cf/meta/llama-3.1-8b-instruct", "query": {"prompt": "hi"}}


def message(request: Any, **beside: Any) -> str:
    return json.dumps({"type": "universal.create", "request": request, **beside})


@pytest.mark.parametrize(
    "frame",
    [
        message({**STEP, "eventId": "e1"}),  # Cloudflare's example
        message([{**STEP, "eventId": "e1"}, STEP]),  # in an array's first step
        message(STEP, eventId="e1"),  # beside `type`
        message([STEP], event_id="e1"),
    ],
)
def test_the_event_id_is_read_where_clients_put_it_and_is_no_step_field(frame: str) -> None:
    create = read_create(frame)
    assert create.event_id == "e1"
    steps = json.loads(create.body)
    assert all("eventId" not in step for step in (steps if isinstance(steps, list) else [steps]))


def test_a_single_steps_request_headers_are_lifted_its_step_headers_stay() -> None:
    headers = {"Authorization": "Bearer k", "cf-aig-authorization": "Bearer sg_t", "cf-aig-cache-ttl": "60"}
    create = read_create(message({**STEP, "headers": headers}))
    assert dict(create.headers) == {"cf-aig-authorization": "Bearer sg_t"}
    assert json.loads(create.body)["headers"] == {"Authorization": "Bearer k", "cf-aig-cache-ttl": "60"}
    # In an array the step's headers are left to the planner (a 400 there, as over HTTP).
    assert not read_create(message([{**STEP, "headers": headers}])).headers


@pytest.mark.parametrize(
    ("frame", "event_id", "says"),
    [
        ("tell me a joke", None, "JSON object"),
        ("[1]", None, "not an array"),
        (json.dumps({"type": "universal.cancel", "request": {"eventId": "x"}}), "x", "universal.cancel"),
        (json.dumps({"type": "universal.create", "eventId": "y"}), "y", "'request'"),
        (message(STEP, eventId=["no"]), None, "eventId is a string"),
    ],
)
def test_a_message_that_is_no_universal_create_is_malformed(
    frame: str, event_id: str | None, says: str
) -> None:
    with pytest.raises(Malformed) as refused:
        read_create(frame)
    assert refused.value.event_id == event_id
    assert says in refused.value.message


def test_stream_data_is_json_else_text_and_openais_done_is_not_sent() -> None:
    assert json.loads(streamed(b'{"response": "hi"}', "e") or b"") == {
        "type": "universal.stream",
        "metadata": {"eventId": "e"},
        "response": {"response": "hi"},
    }
    assert json.loads(streamed(b"plain", None) or b"")["response"] == "plain"
    assert streamed(b"[DONE]", "e") is None


def test_a_whole_body_that_is_no_text_is_base64() -> None:
    reply = Reply(200, CIMultiDict({"Content-Type": "audio/mpeg"}))
    event = json.loads(created(reply, 7, b"\xff\xfb\x90"))
    assert (event["response"], event["metadata"]["encoding"]) == ("//uQ", "base64")
    assert event["metadata"] == {  # no `cacheStatus`: the answer has no `cf-aig-cache-status`
        "eventId": 7,
        "contentType": "audio/mpeg",
        "status": 200,
        "encoding": "base64",
    }


@pytest.mark.parametrize("value", [{"user": "ada"}, '{"user":"ada"}'])
def test_a_single_steps_metadata_is_lifted_as_an_object_or_as_its_text(value: Any) -> None:
    create = read_create(
        message({**STEP, "headers": {"cf-aig-metadata": value, "cf-aig-custom-cost": {"per_token_in": 1}}})
    )
    assert json.loads(create.headers["cf-aig-metadata"]) == {"user": "ada"}
    assert json.loads(create.headers["cf-aig-custom-cost"]) == {"per_token_in": 1}
    assert "headers" not in json.loads(create.body) or not json.loads(create.body)["headers"]
    # An array is no header value: left in the step, for the planner to refuse naming the step.
    kept = read_create(message({**STEP, "headers": {"cf-aig-metadata": ["ada"]}}))
    assert not kept.headers
    assert json.loads(kept.body)["headers"] == {"cf-aig-metadata": ["ada"]}
