"""A stored gateway row as a `Gateway`, its settings parsed once per distinct JSON text.

The directory reads each gateway again every second, and listings read them all; a gateway with
100 routes holds 30 KB of settings. Parsing is a pure function of the stored text, so a text seen
before gets the settings object parsed from it then: an unchanged gateway costs a dictionary
lookup, and the routes that object has parsed (on demand, `GatewaySettings.route`) stay parsed.
A change to the settings changes the text, which is parsed afresh, and the gateway's previous
text is forgotten at once unless another gateway still holds the same text.

Each store has its own `GatewayRows`, bounded by an estimate of the memory its entries hold.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluicegate.gateway import Gateway, GatewaySettings

# Measured with tracemalloc: parsed settings take about 11.5 bytes per character of their text,
# 33 once every route is parsed; with the text itself, 34 bytes a character at most.
BYTES_PER_CHAR = 34
MAX_BYTES = 64 * 1024 * 1024  # about 2 million characters of text: 65 gateways of 100 routes
OFF_LOOP_CHARS = (
    100_000  # unparsed text (about 2 ms to parse) that a read on the event loop hands to a thread
)

GatewayKey = tuple[str, str]  # (account, slug)


@dataclass
class _Entry:
    settings: GatewaySettings
    holders: set[GatewayKey] = field(default_factory=set)  # gateways whose latest text this is


class GatewayRows:
    """Settings objects by their stored text (LRU, at most `max_bytes` by estimate)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.parses = 0  # texts parsed so far (not found in the memo): what the tests count
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._latest: dict[GatewayKey, str] = {}  # a gateway's last text read, while it is kept
        self._chars = 0
        self._lock = threading.Lock()  # SQLite parses on its worker thread, PostgreSQL on the event loop

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, text: object) -> bool:
        return text in self._entries

    @property
    def estimated_bytes(self) -> int:
        return self._chars * BYTES_PER_CHAR

    def settings(self, key: GatewayKey, text: str) -> GatewaySettings:
        """The settings `text` (gateway `key`'s, as stored: checked when set) holds."""
        with self._lock:
            entry = self._entries.get(text)
            if entry is not None:
                self._entries.move_to_end(text)
                self._hold(key, text, entry)
                return entry.settings
        settings = GatewaySettings.model_validate_json(text, context={"stored": True})
        with self._lock:
            self.parses += 1
            entry = self._entries.get(text)
            if entry is None:  # else another thread parsed it meanwhile: keep the one stored
                entry = self._entries[text] = _Entry(settings)
                self._chars += len(text)
            self._hold(key, text, entry)
            while self.estimated_bytes > self.max_bytes and len(self._entries) > 1:
                self._drop(next(iter(self._entries)))
            return entry.settings

    def gateway_of(self, row: Sequence[Any]) -> Gateway:
        """A row of (account, slug, name, settings, created_at, modified_at, version)."""
        account, slug, name, settings, created_at, modified_at, version = row
        return Gateway(
            account=account,
            slug=slug,
            name=name,
            settings=self.settings((account, slug), settings),
            created_at=created_at,
            modified_at=modified_at,
            version=version,
        )

    async def gateways_of(self, rows: Sequence[Sequence[Any]]) -> list[Gateway]:
        """`gateway_of` each row, in a worker thread when the texts not parsed yet are large, so a
        read on the event loop (PostgreSQL's) does not hold it for the whole parse."""
        if self._unparsed_chars(row[3] for row in rows) > OFF_LOOP_CHARS:
            return await asyncio.to_thread(lambda: [self.gateway_of(row) for row in rows])
        return [self.gateway_of(row) for row in rows]

    def _hold(self, key: GatewayKey, text: str, entry: _Entry) -> None:
        """Record `text` as gateway `key`'s latest; its previous text goes unless another holds it."""
        previous = self._latest.get(key)
        if previous == text:
            return
        self._latest[key] = text
        entry.holders.add(key)
        if previous is not None and (old := self._entries.get(previous)) is not None:
            old.holders.discard(key)
            if not old.holders:  # an older version: a read still on its way would parse it again
                self._drop(previous)

    def _drop(self, text: str) -> None:
        entry = self._entries.pop(text)
        self._chars -= len(text)
        for key in entry.holders:
            if self._latest.get(key) == text:
                del self._latest[key]

    def _unparsed_chars(self, texts: Iterable[str]) -> int:
        with self._lock:
            return sum(len(text) for text in texts if text not in self._entries)


class ParsedGateways:
    """A store's `gateway_rows`, made on first use (a store on the event loop: no race to make it)."""

    @functools.cached_property
    def gateway_rows(self) -> GatewayRows:
        return GatewayRows()
