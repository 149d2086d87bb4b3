"""A stored gateway row as a `Gateway`, its settings parsed once per distinct JSON text.

The directory reads each gateway again every second, and listings read them all; a gateway with
100 routes holds 30 KB of settings. Parsing is a pure function of the stored text, so a text seen
before gets the settings object parsed from it then: an unchanged gateway costs a dictionary
lookup, and the routes that object has parsed (on demand, `GatewaySettings.route`) stay parsed.
A change to the settings changes the text, which is parsed afresh.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from sluicegate.gateway import Gateway, GatewaySettings

MAX_CHARS = 32_000_000  # the texts kept as keys (about a thousand gateways of 100 routes each)
OFF_LOOP_CHARS = (
    100_000  # unparsed text (about 2 ms to parse) that a read on the event loop hands to a thread
)

_memo: OrderedDict[str, GatewaySettings] = OrderedDict()  # stored text -> its settings (LRU)
_chars = 0
_lock = threading.Lock()  # SQLite parses on its worker thread, PostgreSQL on the event loop
parses = 0  # texts parsed so far (not found in the memo): what the tests count


def stored_settings(text: str) -> GatewaySettings:
    """The settings `text` (as stored: checked when set) holds."""
    global _chars, parses
    with _lock:
        found = _memo.get(text)
        if found is not None:
            _memo.move_to_end(text)
            return found
    settings = GatewaySettings.model_validate_json(text, context={"stored": True})
    with _lock:
        parses += 1
        if text not in _memo:
            _memo[text] = settings
            _chars += len(text)
        while _chars > MAX_CHARS and len(_memo) > 1:
            dropped, _ = _memo.popitem(last=False)
            _chars -= len(dropped)
    return settings


def gateway_of(row: Sequence[Any]) -> Gateway:
    """A row of (account, slug, name, settings, created_at, modified_at)."""
    account, slug, name, settings, created_at, modified_at = row
    return Gateway(
        account=account,
        slug=slug,
        name=name,
        settings=stored_settings(settings),
        created_at=created_at,
        modified_at=modified_at,
    )


async def gateways_of(rows: Sequence[Sequence[Any]]) -> list[Gateway]:
    """`gateway_of` each row, in a worker thread when the texts not parsed yet are large, so a
    read on the event loop (PostgreSQL's) does not hold it for the whole parse."""
    if _unparsed_chars(row[3] for row in rows) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(lambda: [gateway_of(row) for row in rows])
    return [gateway_of(row) for row in rows]


def _unparsed_chars(texts: Iterable[str]) -> int:
    with _lock:
        return sum(len(text) for text in texts if text not in _memo)
