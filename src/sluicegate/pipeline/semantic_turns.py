"""The compared turns a semantic cache entry keeps beside its answer, for verifying a candidate:
the stored question and its context (a JSON list, most recent first), in the entry's headers
under names no upstream sends, removed before the entry is replayed."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from sluicegate.semantic.scope import Scoped
from sluicegate.storage.cache import CacheEntry

_QUESTION = "x-sluicegate-semantic-question"
_CONTEXT = "x-sluicegate-semantic-context"
_ENGINE_HEADERS = frozenset({_QUESTION, _CONTEXT})


def turn_headers(scoped: Scoped) -> tuple[tuple[str, str], ...]:
    """The headers that keep `scoped`'s compared turns with its entry."""
    context = ((_CONTEXT, orjson.dumps(scoped.context).decode()),) if scoped.context else ()
    return ((_QUESTION, scoped.text), *context)


def replayed_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """An entry's headers as a hit replays them: without the turns."""
    return [(name, value) for name, value in headers if name not in _ENGINE_HEADERS]


def stored_turns(entry: CacheEntry) -> tuple[str, ...]:
    """The turns stored with an entry, the question first."""
    found = dict((k, v) for k, v in entry.headers if k in _ENGINE_HEADERS)
    context = orjson.loads(found[_CONTEXT]) if _CONTEXT in found else []
    return (found.get(_QUESTION, ""), *context)
