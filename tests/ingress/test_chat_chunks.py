"""ChatChunks: a chat stream's SSE bytes split into its events, and the usage the last one reports."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.ingress import base
from sluicegate.ingress.base import ChatChunks
from sluicegate.types import Usage

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def test_usage_is_read_only_from_the_events_that_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chunk but the last has no usage (or null): reading it from each cost a call per chunk."""
    read: list[Any] = []
    usage_object = base.usage_object

    def spy(raw: Any) -> Usage | None:
        read.append(raw)
        return usage_object(raw)

    monkeypatch.setattr(base, "usage_object", spy)
    chunks = ChatChunks()
    deltas = [{"choices": [{"index": 0, "delta": {"content": word}}]} for word in ["one", "two"]]
    stream = [*map(sse, deltas), sse({"choices": [], "usage": None}), sse({"choices": [], "usage": USAGE})]
    events = [event for part in stream for event in chunks.feed(part)]
    assert [*chunks.feed(b"data: [DONE]\n\n")] == []
    assert len(events) == 4
    assert chunks.done
    assert read == [USAGE]
    assert chunks.usage is not None
    assert (chunks.usage.input_tokens, chunks.usage.output_tokens) == (5, 2)
