"""What one realtime session carried, for its single log record: frames and events each way, the
responses the model gave and their summed usage, its input audio transcriptions (a second model,
billed apart: their count, usage and cost by model), and how the session ended."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from sluicegate.providers.openai_realtime import transcription_usage_document, usage_document
from sluicegate.types import Usage

# The record's metadata keys for the counts (reserved: no client may set them, see `reserved.py`).
CLIENT_EVENTS_KEY = "realtime_client_events"
SERVER_EVENTS_KEY = "realtime_server_events"
RESPONSES_KEY = "realtime_responses"
TRANSCRIPTIONS_KEY = "realtime_transcriptions"  # only when the session transcribed its input audio


@dataclass(slots=True)
class Transcribed:
    """One transcription model's transcriptions in a session: how many, their summed usage and
    cost (`unpriced`: some had no price, and count nothing in `cost_usd`)."""

    count: int = 0
    usage: Usage | None = None
    cost_usd: float = 0.0
    unpriced: bool = False


@dataclass(slots=True)
class SessionTally:
    client_events: Counter[str] = field(default_factory=Counter)  # by type ("" for a frame naming none)
    server_events: Counter[str] = field(default_factory=Counter)
    client_binary: int = 0  # binary frames: relayed, never read
    server_binary: int = 0
    responses: int = 0  # `response.done` events
    usage: Usage | None = None  # of every response together; None until one reports usage
    transcribed: dict[str, Transcribed] = field(default_factory=dict)  # by model ("": none named)
    closed_by: str = ""  # "client", "upstream" or "gateway"
    close_code: int | None = None
    close_reason: str = ""

    def add_response(self, usage: Usage | None) -> None:
        self.responses += 1
        if usage is not None:
            self.usage = usage if self.usage is None else self.usage.plus(usage)

    def add_transcription(self, model: str | None, usage: Usage | None, cost: float | None) -> None:
        """One input audio transcription completed: `usage` as reported, `cost` priced at `model`'s
        price (None: nothing prices it)."""
        totals = self.transcribed.setdefault(model or "", Transcribed())
        totals.count += 1
        if usage is not None:
            totals.usage = usage if totals.usage is None else totals.usage.plus(usage)
        if cost is None:
            totals.unpriced = totals.unpriced or usage is not None
        else:
            totals.cost_usd += cost

    @property
    def transcriptions(self) -> int:
        return sum(totals.count for totals in self.transcribed.values())

    @property
    def transcription_cost(self) -> float | None:
        """What the transcriptions cost together; None when there were none priced."""
        priced = [t.cost_usd for t in self.transcribed.values() if t.cost_usd or not t.unpriced]
        return sum(priced) if priced else None

    def closed(self, by: str, code: int | None, reason: str = "") -> None:
        """Record how the session ended (the first close wins: the other side's echo is not news)."""
        if not self.closed_by:
            self.closed_by, self.close_code, self.close_reason = by, code, reason

    def metadata(self) -> dict[str, int]:
        counts = {
            CLIENT_EVENTS_KEY: self.client_events.total() + self.client_binary,
            SERVER_EVENTS_KEY: self.server_events.total() + self.server_binary,
            RESPONSES_KEY: self.responses,
        }
        if self.transcribed:
            counts[TRANSCRIPTIONS_KEY] = self.transcriptions
        return counts

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
        if self.transcribed:
            document["transcriptions"] = [_transcribed(model, t) for model, t in self.transcribed.items()]
        return orjson.dumps(document)


def _transcribed(model: str, totals: Transcribed) -> dict[str, Any]:
    """One model's transcriptions in the summary; `usage` in the shape its events report it."""
    entry: dict[str, Any] = {"model": model or None, "count": totals.count}
    if totals.usage is not None:
        entry["usage"] = transcription_usage_document(totals.usage)
    entry["cost_usd"] = None if totals.unpriced and not totals.cost_usd else totals.cost_usd
    if totals.unpriced:
        entry["unpriced"] = True
    return entry
