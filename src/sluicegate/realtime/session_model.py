"""A model-limited token's realtime session keeps to the models the token may use.

The allow-list checks the model a session connects with (its `model` query parameter). A client
event can name another: `session.update`'s `session` holds a `model` field, whose change the
Realtime API documents as refused ("any field except for `voice` and `model`",
https://platform.openai.com/docs/api-reference/realtime-client-events/session/update). The gateway
does not count on the upstream refusing it: for a token that lists `models`, a client event whose
`session.model` names another model than the session's, one the token may not use, is not sent on,
and the client gets the API's `error` event instead (the session goes on, as after a guardrail's
block). The event is read whole whatever its `type` says (the relay's quick look at its head is for
counting), and a text frame that cannot be read as a JSON object is refused the same way: what
cannot be checked does not pass. Sessions of other tokens are not read at all.

The session's input audio transcription runs a second model on the session's key, named in the
session's settings (`audio.input.transcription.model`; the beta's
`input_audio_transcription.model`, also in its `transcription_session.update`), and billed apart
(`transcriptions.py`). It is checked as the session's model is: an event that turns transcription
on with a model the token may not use, or with none named (the API would pick one), is refused
the same way; one that turns it off (`null`) passes.
"""

from __future__ import annotations

import orjson

from sluicegate.allowance import Allowance
from sluicegate.providers.openai_realtime import transcription_settings
from sluicegate.realtime.guard import error_event

MODEL_NOT_ALLOWED = "model_not_allowed"
_UNREADABLE = (
    "the gateway could not read this event as a JSON object, so it was not sent on: this token may"
    " use some models only, and an event it cannot read could name another; send it as plain JSON"
)


class SessionModel:
    """One session's check of its client text events against `token`'s models."""

    def __init__(self, token: Allowance, provider: str, model: str | None) -> None:
        self._token = token
        self._provider = provider
        self._model = model  # the model the session connected with, which the allow-list passed

    def refusal(self, frame: str) -> str | None:
        """None when `frame` may go upstream; else the `error` event to answer the client with."""
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return error_event(_UNREADABLE, None, MODEL_NOT_ALLOWED)
        if not isinstance(event, dict):
            return error_event(_UNREADABLE, None, MODEL_NOT_ALLOWED)
        session = event.get("session")
        if not isinstance(session, dict):
            return None
        refusal = self._session_model(session) or self._transcription_model(session)
        return None if refusal is None else error_event(refusal, event.get("event_id"), MODEL_NOT_ALLOWED)

    def _session_model(self, session: dict[str, object]) -> str | None:
        """Why the session's model this event names may not run (None: it may, or it names none)."""
        if "model" not in session or session["model"] == self._model:
            return None
        refusal = self._refusal(session["model"])
        if refusal is None:
            return None
        return (
            f"{refusal}: a session runs the model it connected with ({self._model!r}), and this event"
            " was not sent on"
        )

    def _transcription_model(self, session: dict[str, object]) -> str | None:
        """Why the input audio transcription this event turns on may not run (None: it may)."""
        for setting in transcription_settings(session):
            if setting is None:  # turned off
                continue
            model = setting.get("model") if isinstance(setting, dict) else None
            refusal = self._refusal(model)
            if refusal is not None:
                return (
                    f"{refusal} (for the session's input audio transcription, a model billed apart):"
                    " this event was not sent on"
                )
        return None

    def _refusal(self, model: object) -> str | None:
        named = model if isinstance(model, str) or model is None else repr(model)
        return self._token.refusal(self._provider, named, "POST")
