"""Reading complete server-sent event streams (after the fact; never on the streaming path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson


def iter_data(events: bytes, *, backwards: bool = False) -> Iterator[bytes]:
    """Yield the `data:` payload of each event of a complete SSE stream (last first if `backwards`).

    Multi-line data fields are joined with newlines, as the SSE spec says; comments and other fields
    are skipped.
    """
    if b"\r" in events:  # a scan is far cheaper than the copy
        events = events.replace(b"\r\n", b"\n")
    for block in _blocks_backwards(events) if backwards else events.split(b"\n\n"):
        data = [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            yield b"\n".join(data)


def _blocks_backwards(events: bytes) -> Iterator[bytes]:
    """The blank-line-separated blocks, last first, found one at a time: a reader that stops at the
    last events never splits the whole stream."""
    end = len(events)
    while end > 0:
        start = events.rfind(b"\n\n", 0, end)
        yield events[start + 2 if start >= 0 else 0 : end]
        end = start


def iter_json(events: bytes, *, backwards: bool = False, mentioning: tuple[bytes, ...] = ()) -> Iterator[Any]:
    """Yield each event's data parsed as JSON, skipping `[DONE]` and anything that is not JSON.

    With `mentioning`, events whose data contains none of those byte strings are skipped unparsed:
    a cheap `in` test spares parsing events that cannot hold what the caller looks for.
    """
    for data in iter_data(events, backwards=backwards):
        if data == b"[DONE]" or (mentioning and not any(word in data for word in mentioning)):
            continue
        try:
            yield orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
