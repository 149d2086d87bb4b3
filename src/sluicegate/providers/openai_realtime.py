"""The OpenAI Realtime API, and Azure OpenAI's: one WebSocket session of JSON events.

Wire format: https://platform.openai.com/docs/api-reference/realtime — the client connects to
`wss://api.openai.com/v1/realtime?model=…` and sends events (`session.update`,
`input_audio_buffer.append`, `response.create`, …); the server answers with events, and each
response the model gives ends in a `response.done` whose `response.usage` is what is billed (text
and audio tokens, cache reads; https://platform.openai.com/docs/api-reference/realtime-server-events/response/done).
A response starts with the server's `response.created`, asked for by a client `response.create` or
by the server itself when its voice detection hears a turn end. Azure OpenAI
(https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/realtime-audio-websockets):
`wss://{resource}.openai.azure.com/openai/realtime?api-version=…&deployment=…`, or
`…/openai/v1/realtime?model=…`. Every frame is relayed as it came; these functions only read.

Cloudflare's examples open OpenAI's session at the provider's root, `…/openai?model=…`
(https://developers.cloudflare.com/ai-gateway/usage/websockets-api/realtime-api/): `realtime_route`
relays it to the realtime path. (Its Google, Cartesia, ElevenLabs, Fal and Workers AI examples
speak other protocols, which have no adapter here.)
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from sluicegate.errors import BadRequest
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.openai_usage import usage_object
from sluicegate.types import Usage

RESPONSE_CREATE = "response.create"  # client: asks for a response
RESPONSE_CREATED = "response.created"  # server: a response started (asked for or not)
RESPONSE_DONE = "response.done"  # server: a response ended, with its usage
# Input audio transcription, a second model billed on the session's key
# (https://platform.openai.com/docs/api-reference/realtime-server-events): the session's settings
# name it (`session.created`, `session.updated`; the beta's transcription sessions:
# `transcription_session.updated`); each commit of the input audio (`input_audio_buffer.committed`,
# the client's or voice detection's) is transcribed while transcription is on, and ends in a
# `.completed` event with the transcription's own `usage` (tokens, or whisper's seconds) or `.failed`.
SESSION_EVENTS = frozenset({"session.created", "session.updated", "transcription_session.updated"})
AUDIO_COMMITTED = "input_audio_buffer.committed"
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
# The top-level `type` of an event, read from its head without parsing the frame: most frames are
# audio (tens of KB of base64), and OpenAI writes `type` first or right after `event_id`.
_TYPE = re.compile(r'"type"\s*:\s*"([^"\\]{1,80})"')
_HEAD = 256
_READ = frozenset(  # the events the gateway acts on
    {RESPONSE_CREATE, RESPONSE_CREATED, RESPONSE_DONE, AUDIO_COMMITTED, TRANSCRIBED, TRANSCRIPTION_FAILED}
    | SESSION_EVENTS
)
# The providers whose sessions Cloudflare opens at their root, and the realtime path relayed to.
ROOT_SESSIONS = {"openai": "realtime"}
# The query parameters a session's model is read from, by provider (else `model` alone): Azure's
# classic path takes `deployment`, its v1 path `model`.
_MODEL_PARAMS = {"azure-openai": ("model", "deployment")}


def is_realtime(route: Route) -> bool:
    """Whether `route` is a realtime session's path (`realtime`, also under a prefix)."""
    path = route.path.rstrip("/")
    return path == "realtime" or path.endswith("/realtime")


def realtime_route(provider: str, route: Route) -> Route | None:
    """The route a session asked for at `route` under `provider` goes to: a realtime path as it is,
    the root of a provider that serves sessions there as its realtime path; None for any other."""
    if is_realtime(route):
        return route
    at_root = ROOT_SESSIONS.get(provider)
    if at_root is not None and not route.path.strip("/"):
        return dataclasses.replace(route, path=at_root)
    return None


def realtime_facts(provider: str, route: Route) -> RequestFacts:
    """The model a session under `provider` runs: its `model` query parameter; on Azure, `model`
    (its v1 path) or `deployment` (its classic path), whichever is given. The model the allow-lists
    and prices read must be the one the upstream runs, so a 400 (naming the parameter) for one given
    twice, blank or not (an upstream may read either), and for Azure's two naming different models
    (each path reads another). OpenAI reads no `deployment`: one there names no model."""
    query = parse_qs(route.query, keep_blank_values=True)
    named: list[str] = []
    for param in _MODEL_PARAMS.get(provider, ("model",)):
        values = query.get(param, [])
        if len(values) > 1:
            raise BadRequest(
                f"a realtime session runs one model, and the query names {param!r} {len(values)} times"
                f" ({', '.join(map(repr, values))}): name it once",
                param=param,
            )
        named += values
    if len(set(named)) > 1:
        raise BadRequest(
            f"the query names the model {named[0]!r} and the deployment {named[1]!r}: Azure runs the"
            " deployment on its classic realtime path, the model on its v1 path; name one of them",
            param="deployment",
        )
    return RequestFacts(model=(named[0] or None) if named else None)


def websocket_url(url: str) -> str:
    """An `http(s)://` upstream URL as the `ws(s)://` URL of the same endpoint."""
    scheme, sep, rest = url.partition("://")
    return {"https": "wss", "http": "ws"}.get(scheme, scheme) + sep + rest


def event_type(frame: str) -> str:
    """The `type` of an event frame ("" when its head names none)."""
    found = _TYPE.search(frame, 0, _HEAD)
    return found.group(1) if found else ""


def read_event(frame: str, kind: str) -> dict[str, Any] | None:
    """The whole event, for the few kinds the gateway acts on (None for the rest, or a frame that
    is not the JSON object its head promised)."""
    if kind not in _READ:
        return None
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and event.get("type") == kind else None


def response_id(event: dict[str, Any]) -> str:
    response = event.get("response")
    ident = response.get("id") if isinstance(response, dict) else None
    return ident if isinstance(ident, str) else ""


def response_usage(event: dict[str, Any]) -> Usage | None:
    """The usage a `response.done` reports (None when it has none: a response that failed early)."""
    response = event.get("response")
    return usage_object(response.get("usage")) if isinstance(response, dict) else None


def transcription_settings(session: Any) -> list[Any]:
    """The input audio transcription settings a `session` object (a client's `session.update`, the
    server's `session.updated`) gives, as given: an object naming its `model` turns transcription on,
    None turns it off. GA: `audio.input.transcription`; the beta: `input_audio_transcription`. None
    at all: the session leaves transcription as it was."""
    if not isinstance(session, dict):
        return []
    settings = [session["input_audio_transcription"]] if "input_audio_transcription" in session else []
    audio = session.get("audio")
    given = audio.get("input") if isinstance(audio, dict) else None
    if isinstance(given, dict) and "transcription" in given:
        settings.append(given["transcription"])
    return settings


def minted_model(payload: Any) -> str | None:
    """The model a request for a realtime key names: the beta's session at the top, GA's in
    `session`; a session that only transcribes, its transcription model (the first one named)."""
    if not isinstance(payload, dict):
        return None
    for session in (payload, payload.get("session")):
        if not isinstance(session, dict):
            continue
        if isinstance(model := session.get("model"), str):
            return model
        for setting in transcription_settings(session):
            if isinstance(setting, dict) and isinstance(model := setting.get("model"), str):
                return model
    return None


def item_id(event: dict[str, Any]) -> str:
    """The item an input audio event is about (`input_audio_buffer.committed`, a transcription's)."""
    ident = event.get("item_id")
    return ident if isinstance(ident, str) else ""


def transcription_usage(event: dict[str, Any]) -> Usage | None:
    """The usage a transcription's `.completed` event reports, as `audio/transcriptions` answers
    report theirs: `{"type": "tokens", …}` (GPT transcribe models), `{"type": "duration", "seconds"}`
    (whisper-1)."""
    return usage_object(event.get("usage"))


def transcription_usage_document(usage: Usage) -> dict[str, Any]:
    """Transcriptions' summed usage as a `.completed` event writes one (read back by `usage_object`)."""
    if usage.audio_seconds and not usage.total_tokens:
        return {"type": "duration", "seconds": usage.audio_seconds}
    return {
        "type": "tokens",
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "input_token_details": {
            "audio_tokens": usage.input_audio_tokens,
            "text_tokens": usage.input_tokens - usage.input_audio_tokens,
        },
    }


def usage_document(usage: Usage) -> dict[str, Any]:
    """`usage` as the Realtime API writes it: what the session's log record holds, and reads back."""
    return {
        "total_tokens": usage.total_tokens,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "input_token_details": {
            "cached_tokens": usage.cached_tokens,
            "text_tokens": usage.input_tokens - usage.input_audio_tokens,
            "audio_tokens": usage.input_audio_tokens,
            "cached_tokens_details": {
                "text_tokens": usage.cached_tokens - usage.cached_audio_tokens,
                "audio_tokens": usage.cached_audio_tokens,
            },
        },
        "output_token_details": {
            "text_tokens": usage.output_tokens - usage.output_audio_tokens,
            "audio_tokens": usage.output_audio_tokens,
        },
    }
