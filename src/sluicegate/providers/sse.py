"""Reading complete server-sent event streams (after the fact; never on the streaming path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson


def iter_data(events: bytes) -> Iterator[bytes]:
    """Yield the `data:` payload of each event of a complete SSE stream.

    Multi-line data fields are joined with newlines, as the SSE spec says; comments and other fields
    are skipped.
    """
    for block in events.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            yield b"\n".join(data)


def iter_json(events: bytes) -> Iterator[Any]:
    """Yield each event's data parsed as JSON, skipping `[DONE]` and anything that is not JSON."""
    for data in iter_data(events):
        if data == b"[DONE]":
            continue
        try:
            yield orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
