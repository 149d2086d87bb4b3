"""The gateway's guardrails on a realtime session's client events: the text a client sends is
checked as a request's is (`pipeline/guardrails.py`), event by event, before it goes upstream.

Every text frame is parsed whole (the relay's quick look at a frame's head is for counting, and a
client could put another `"type"` first). Text is read where OpenAI's Realtime API carries it: a
`conversation.item.create`'s item (message parts `input_text`, `text`, `output_text`, an
`input_audio` part's `transcript`, a `function_call`'s `arguments`, a `function_call_output`'s
`output`), a `session.update`'s or `response.create`'s `instructions` and `prompt` variables, and
a `response.create`'s own `input` items. A blocking match drops the event and answers the client
with an `error` event (`code` `guardrail_blocked`, naming the detector, never the text) in the
API's own shape; the session goes on, as a refused request leaves the next one free. A frame that
cannot be read as JSON is refused the same way: what cannot be checked does not pass. A redacting
match rewrites the event; a flag is only noted. Audio, tool descriptions and transcription prompts
are not read; what the server sends is checked by `answer_guard.py`.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

import orjson

from sluicegate.errors import GuardrailBlocked
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.placeholders import Vault
from sluicegate.pipeline.guardrail_findings import Findings
from sluicegate.pipeline.guardrails import guard_text

_ITEM_CREATE = "conversation.item.create"
_SESSION_UPDATE = "session.update"
_RESPONSE_CREATE = "response.create"
_TEXT_PARTS = frozenset({"input_text", "text", "output_text"})


class CheckedEvent(NamedTuple):
    """What to do with one client event: `forward` it (as given, or rewritten), or `answer` the
    client with an error event instead."""

    forward: str | None
    answer: str | None = None


class EventGuard:
    """One session's check of its client events; `findings` (`request:redact:email`, each once)
    go to the session's log record and metrics."""

    def __init__(self, guard: Guard, findings: Findings, vault: Vault) -> None:
        self._guard = guard
        self._findings = findings
        self._vault = vault  # the session's: a value keeps its placeholder's number throughout

    def check(self, frame: str) -> CheckedEvent:
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return CheckedEvent(None, error_event(_UNREADABLE, None))
        if not isinstance(event, dict):
            return CheckedEvent(None, error_event(_UNREADABLE, None))
        try:
            changed = self._event(event, event.get("type"))
        except GuardrailBlocked as blocked:
            return CheckedEvent(None, error_event(blocked.message, event.get("event_id")))
        return CheckedEvent(orjson.dumps(event).decode() if changed else frame)

    def _event(self, event: dict[str, Any], kind: Any) -> bool:
        if kind == _ITEM_CREATE:
            return self._item(event.get("item"))
        if kind not in (_SESSION_UPDATE, _RESPONSE_CREATE):
            return False
        holder = event.get("session" if kind == _SESSION_UPDATE else "response")
        if not isinstance(holder, dict):
            return False
        changed = self._field(holder, "instructions", "system")
        prompt = holder.get("prompt")
        variables = prompt.get("variables") if isinstance(prompt, dict) else None
        if isinstance(variables, dict):
            for name, value in variables.items():
                if isinstance(value, str):
                    changed = self._field(variables, name, "user") or changed
                elif isinstance(value, dict) and value.get("type") in _TEXT_PARTS:
                    changed = self._field(value, "text", "user") or changed
        inputs = holder.get("input") if kind == _RESPONSE_CREATE else None
        if isinstance(inputs, list):
            for item in inputs:
                changed = self._item(item) or changed
        return changed

    def _item(self, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        kind = item.get("type")
        if kind == "function_call_output":
            return self._field(item, "output", "tool")
        if kind == "function_call":
            return self._field(item, "arguments", "assistant")
        given = item.get("role")
        role = given if isinstance(given, str) else "user"
        parts = item.get("content")
        changed = False
        if isinstance(parts, list):
            for part in parts:
                if not isinstance(part, dict):
                    continue
                if part.get("type") in _TEXT_PARTS:
                    changed = self._field(part, "text", role) or changed
                elif part.get("type") == "input_audio":
                    changed = self._field(part, "transcript", role) or changed
        return changed

    def _field(self, holder: dict[str, Any], key: str, role: str) -> bool:
        text = holder.get(key)
        if not isinstance(text, str) or not text:
            return False
        checked = guard_text(self._guard, text, role, self._vault, self._findings)
        if checked == text:
            return False
        holder[key] = checked
        return True


_UNREADABLE = (
    "the gateway's guardrails could not read this event as JSON, so it was not sent on: send it as"
    " plain JSON (no NaN, no lone surrogate escapes)"
)


def error_event(message: str, client_event_id: Any, code: str = "guardrail_blocked") -> str:
    """The Realtime API's `error` server event for a refused client event."""
    return orjson.dumps(
        {
            "type": "error",
            "event_id": f"event_gw_{secrets.token_hex(8)}",
            "error": {
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": None,
                "event_id": client_event_id if isinstance(client_event_id, str) else None,
            },
        }
    ).decode()
