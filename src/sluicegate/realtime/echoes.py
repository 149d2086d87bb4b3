"""Stored credentials a realtime upstream quotes after the handshake, masked before the client
reads them: an `error` event may quote the key it got (`Incorrect API key provided: sk-…`), and a
session on the gateway's stored key must not show it to a client that brought none
(`handshake.stored_keys`; a session on the client's own key has none, and costs nothing).

A text frame costs a few substring searches (`Secrets.scrub_text`); only one that quotes a key is
rewritten. `[redacted]` holds no character JSON escapes, so an event stays JSON; should a match
cut into an escape sequence all the same, the event is parsed and written again with its strings
masked. A binary frame (audio, or an event a server sends as bytes) is searched as it is
(`Secrets.scrub`, in relay.py). Only credentials are searched for (`Step.add_stored_to`): the
events carry the model's text, not the gateway's to rewrite.
"""

from __future__ import annotations

import orjson

from sluicegate.credentials import Secrets


def masked_frame(secrets: Secrets, frame: str) -> str:
    """`frame` with every form of `secrets` masked, still JSON when it was."""
    masked = secrets.scrub_text(frame) or frame
    if masked is frame:  # nothing quoted: the frame itself, not a copy
        return frame
    try:
        orjson.loads(masked)
        return masked
    except orjson.JSONDecodeError:
        pass
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:  # not JSON before either
        return masked
    return orjson.dumps(secrets.scrub_value(event)).decode()
