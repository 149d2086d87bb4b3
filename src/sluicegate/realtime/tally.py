"""What one realtime session carried, for its single log record: frames and events each way, the
responses the model gave and their summed usage, and how the session ended."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from sluicegate.providers.openai_realtime import usage_document
from sluicegate.types import Usage

# The record's metadata keys for the counts (reserved: no client may set them, see `reserved.py`).
CLIENT_EVENTS_KEY = "realtime_client_events"
SERVER_EVENTS_KEY = "realtime_server_events"
RESPONSES_KEY = "realtime_responses"


@dataclass(slots=True)
class SessionTally:
    client_events: Counter[str] = field(default_factory=Counter)  # by type ("" for a frame naming none)
    server_events: Counter[str] = field(default_factory=Counter)
    client_binary: int = 0  # binary frames: relayed, never read
    server_binary: int = 0
    responses: int = 0  # `response.done` events
    usage: Usage | None = None  # of every response together; None until one reports usage
    closed_by: str = ""  # "client", "upstream" or "gateway"
    close_code: int | None = None
    close_reason: str = ""

    def add_response(self, usage: Usage | None) -> None:
        self.responses += 1
        if usage is not None:
            self.usage = usage if self.usage is None else self.usage.plus(usage)

    def closed(self, by: str, code: int | None, reason: str = "") -> None:
        """Record how the session ended (the first close wins: the other side's echo is not news)."""
        if not self.closed_by:
            self.closed_by, self.close_code, self.close_reason = by, code, reason

    def metadata(self) -> dict[str, int]:
        return {
            CLIENT_EVENTS_KEY: self.client_events.total() + self.client_binary,
            SERVER_EVENTS_KEY: self.server_events.total() + self.server_binary,
            RESPONSES_KEY: self.responses,
        }

    def summary(self) -> bytes:
        """The session as its log record's response body; its `usage` is in the Realtime API's own
        shape, so the provider adapter reads it back as it reads any OpenAI usage."""
        document: dict[str, Any] = {
            "object": "realtime.session",
            "events": {"client": dict(self.client_events), "server": dict(self.server_events)},
            "binary_frames": {"client": self.client_binary, "server": self.server_binary},
            "responses": self.responses,
            "closed": {"by": self.closed_by, "code": self.close_code, "reason": self.close_reason},
        }
        if self.usage is not None:
            document["usage"] = usage_document(self.usage)
        return orjson.dumps(document)
