"""The messages of Cloudflare's non-realtime WebSockets API, one request at a time: a client's
`universal.create` read as the universal request it carries (`read_create`), and a pipeline `Reply`
written as the events that answer it (`universal.created`, then for a stream `universal.stream`
per event and `universal.done`), as https://developers.cloudflare.com/ai-gateway/usage/websockets-api/non-realtime-api/
shows them. The connection itself is endpoints/universal_socket.py.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from sluicegate.errors import BadRequest, GatewayError
from sluicegate.exchange import Reply
from sluicegate.pipeline.log import LOG_ID_HEADER
from sluicegate.pipeline.retry import STEP_HEADER
from sluicegate.pipeline.step_headers import header_texts
from sluicegate.pipeline.steps import STEP_HEADERS
from sluicegate.upstream_headers import is_gateway_header

CREATE = "universal.create"
CREATED, STREAM, DONE = "universal.created", "universal.stream", "universal.done"
# Where a message names its request: Cloudflare's example puts `eventId` in the request; clients
# also send it beside `type` (https://github.com/cloudflare/workers-sdk/issues/11040).
EVENT_ID = "eventId"
_OTHER_EVENT_IDS = (EVENT_ID, "event_id")
EVENT_STREAM = "text/event-stream"
CACHE_STATUS_HEADER = "cf-aig-cache-status"  # Cloudflare's name, which the cache stages set
_DONE_DATA = b"[DONE]"  # OpenAI's last event: `universal.done` says the same


@dataclass(frozen=True, slots=True)
class Create:
    """A `universal.create`: the client's `event_id` (None: it gave none), the universal request as
    the endpoint's POST body, and the request's own gateway headers (`cf-aig-authorization`,
    `cf-aig-metadata`, ...) that a single step carried: that step is the whole request."""

    event_id: str | int | None
    body: bytes
    headers: CIMultiDict[str]


class Malformed(BadRequest):
    """A message that is no `universal.create` the gateway can read: answered with an error
    event (`error_event`), never sent through the pipeline. `event_id` when it could be read."""

    def __init__(self, message: str, event_id: str | int | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


def read_create(frame: str | bytes) -> Create:
    """The request a text (or binary) frame holds; `Malformed` says what is wrong with it."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"a message is a JSON object with type {CREATE!r}: {exc}") from exc
    if not isinstance(message, dict):
        raise Malformed(f"a message is a JSON object with type {CREATE!r}, not {_kind(message)}")
    request = message.get("request")
    event_id = _event_id(message, request)
    if message.get("type") != CREATE:
        kind = message.get("type")
        raise Malformed(f"unknown message type {kind!r}: this endpoint takes {CREATE!r}", event_id)
    if not isinstance(request, dict | list):
        raise Malformed(
            f"{CREATE}: 'request' is the universal request, one step object or an array of steps", event_id
        )
    steps = request if isinstance(request, list) else [request]
    for step in steps:
        if isinstance(step, dict):
            for name in _OTHER_EVENT_IDS:
                step.pop(name, None)  # not a step field: the universal planner would refuse it
    headers: CIMultiDict[str] = CIMultiDict()
    if isinstance(request, dict) and isinstance(own := request.get("headers"), dict):
        # Each value as the text the planner makes of it (`cf-aig-metadata` as an object or as its
        # JSON text: one header). An array or null stays, for the planner to refuse with the step.
        try:
            texts = header_texts(0, own)
        except BadRequest:
            texts = {}
        for name in [name for name in texts if _request_header(name)]:
            headers[name] = texts[name]
            del own[name]
    return Create(event_id, orjson.dumps(request), headers)


def _event_id(message: dict[str, Any], request: Any) -> str | int | None:
    first = request[0] if isinstance(request, list) and request else request
    places = [first, message] if isinstance(first, dict) else [message]
    for place in places:
        for name in _OTHER_EVENT_IDS:
            value = place.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise Malformed(f"{name} is a string, not {_kind(value)}")
            return value
    return None


def _request_header(name: str) -> bool:
    """A gateway header only a request carries (a step's own are the retry and cache ones)."""
    return is_gateway_header(name) and name.lower() not in STEP_HEADERS


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def metadata(reply: Reply, event_id: str | int | None) -> dict[str, Any]:
    """What Cloudflare's events say of an answer, read off its headers: only what the gateway knows
    (no `cacheStatus` where no cache applies, as over HTTP no `cf-aig-cache-status`; no `logId`
    for an unlogged request, no `step` for a refusal before any step), and its HTTP `status`,
    which Cloudflare's do not carry: a client tells an error by it."""
    headers = reply.headers
    found: dict[str, Any] = {}
    if CACHE_STATUS_HEADER in headers:  # HIT, MISS or BYPASS (pipeline/cache_labels.py)
        found["cacheStatus"] = headers[CACHE_STATUS_HEADER]
    if event_id is not None:
        found[EVENT_ID] = event_id
    if LOG_ID_HEADER in headers:
        found["logId"] = headers[LOG_ID_HEADER]
    if STEP_HEADER in headers:
        found["step"] = headers[STEP_HEADER]
    found["contentType"] = headers.get("Content-Type", "")
    found["status"] = reply.status
    return found


def is_event_stream(reply: Reply) -> bool:
    """Whether `reply` is answered event by event (`universal.stream`), not whole."""
    return (
        reply.stream is not None
        and not reply.relayed_whole
        and reply.headers.get("Content-Type", "").startswith(EVENT_STREAM)
    )


def created(reply: Reply, event_id: str | int | None, body: bytes | None = None) -> bytes:
    """`universal.created`: a whole answer, its `body` decoded (`decoded`); for a stream, without
    `response`, the start of its `universal.stream` events."""
    event: dict[str, Any] = {"type": CREATED, "metadata": metadata(reply, event_id)}
    if body is not None:
        content_type = reply.headers.get("Content-Type", "")
        event["response"], encoding = decoded(body, content_type)
        if encoding:
            event["metadata"]["encoding"] = encoding
    return orjson.dumps(event)


def streamed(data: bytes, event_id: str | int | None) -> bytes | None:
    """`universal.stream` for one server-sent event's data (None for OpenAI's `[DONE]`): its JSON,
    else its text. Only `eventId` is in its metadata, as Cloudflare sends it."""
    if data == _DONE_DATA:
        return None
    try:
        response = orjson.loads(data)
    except orjson.JSONDecodeError:
        response = data.decode("utf-8", "replace")
    return orjson.dumps({"type": STREAM, "metadata": _id_only(event_id), "response": response})


def done(reply: Reply, event_id: str | int | None, broken: GatewayError | None = None) -> bytes:
    """`universal.done`, with the metadata again; `error` when the stream broke off (the HTTP
    endpoint breaks the client's connection then, which here would end every other request)."""
    event: dict[str, Any] = {"type": DONE, "metadata": metadata(reply, event_id)}
    if broken is not None:
        event["error"] = orjson.loads(broken.body())["error"]
    return orjson.dumps(event)


def error_event(error: GatewayError, event_id: str | int | None) -> bytes:
    """The gateway's own error, not from the pipeline (a malformed message, a shutdown), as the
    pipeline's refusals reach the client: `universal.created` with the error as `response`."""
    meta: dict[str, Any] = {**_id_only(event_id), "contentType": "application/json", "status": error.status}
    return orjson.dumps({"type": CREATED, "metadata": meta, "response": orjson.loads(error.body())})


def decoded(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """An answer's body as `response`: JSON parsed, text as a string, other bytes (audio, images)
    as base64 (then `encoding` says so); and that encoding, else None."""
    if "json" in content_type:
        try:
            return orjson.loads(body), None
        except orjson.JSONDecodeError:
            pass  # a body that says JSON and is not: as text, below
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def _id_only(event_id: str | int | None) -> dict[str, Any]:
    return {} if event_id is None else {EVENT_ID: event_id}
