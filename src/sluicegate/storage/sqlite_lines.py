"""Spool lines as SQLite rows: each line parsed with orjson and turned straight into the row
`INSERT INTO logs` takes, without a `LogRecord` (building one costs ~0.2 ms a line; this ~0.03
for a 2.6 KB line, a third of it orjson's parse).

SQLite used to parse the lines itself (`json_extract` per column, `json_each` for unknown keys),
~0.13 ms a line: more than inserting the row. The rows are the ones that made (the test keeps that
statement and compares, tests/storage/test_sqlite_lines.py):

- a line that is no record (not a JSON object, a required field missing, a key that is no field,
  bad base64 in a body) is refused (`LineRefused`) and the caller refuses the whole batch;
- a field missing from the line, or null where its default is not None, gets the default;
- a body is `base64:` decoded, else its text's UTF-8 bytes (null stays NULL);
- an object or array is stored as compact JSON text, a boolean as 0/1 (sqlite3 binds `True` as
  1), anything else as is (the column's affinity converts as it did);
- an integer past SQLite's 64 bits (an upstream's token count of 2**64 - 1, a -1 read as unsigned)
  as a float, as SQL made it (`fitted`, for the row that sqlite3 cannot bind).

Where the two differ, only on lines no gateway writes: a body that is neither text nor null is
refused (SQL cast it to bytes; `parse_record` refuses it too), a key given twice keeps its last
value (SQL: its first), and nested JSON is stored as orjson writes it (SQL kept the line's text;
the spool's lines are orjson's).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import orjson

from sluicegate.storage.log_lines import BODIES, DEFAULTS, JSON_FIELDS, REQUIRED

_BASE64 = "base64:"
_NESTED = frozenset({dict, list})
_KNOWN = frozenset(DEFAULTS)
_REQUIRED = frozenset(REQUIRED)


_INT64 = range(-(2**63), 2**63)


def fitted(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` with each integer SQLite cannot hold as a float (sqlite3 raises OverflowError)."""
    return tuple(float(value) if type(value) is int and value not in _INT64 else value for value in row)


class LineRefused(ValueError):
    """A spool line that is no log record."""


def _json_text(value: Any) -> Any:
    return orjson.dumps(value).decode() if type(value) in _NESTED else value


def _body(value: Any) -> bytes | None:
    if value is None:
        return None
    if type(value) is not str:
        raise LineRefused(f"a body is text or null, got {type(value).__name__}")
    if value.startswith(_BASE64):
        return base64.b64decode(value[len(_BASE64) :], validate=True)  # binascii.Error: a ValueError
    return value.encode()


class LineRows:
    """Makes the row of `columns` (all fields of `LogRecord`) a spool line holds."""

    def __init__(self, columns: list[str]) -> None:
        if set(columns) != _KNOWN:
            raise ValueError("the columns are not the fields of LogRecord")
        self._missing = dict.fromkeys(columns)  # a field the line lacks: None, then its default
        self._row: Callable[[dict[str, Any]], tuple[Any, ...]] = itemgetter(*columns)
        self._defaults = [
            (name, _json_text(default))
            for name, default in DEFAULTS.items()
            if default is not None and name not in _REQUIRED
        ]

    def __call__(self, line: bytes) -> tuple[Any, ...]:
        found = orjson.loads(line)  # orjson.JSONDecodeError: a ValueError
        if type(found) is not dict:
            raise LineRefused("a log record is a JSON object")
        values = self._missing | found
        if len(values) != len(self._missing):  # cheaper than comparing the keys
            raise LineRefused(f"a key that is no field: {sorted(found.keys() - _KNOWN)[0]!r}")
        if not found.keys() >= _REQUIRED:
            raise LineRefused(f"a required field is missing: {sorted(_REQUIRED - found.keys())[0]!r}")
        for name, default in self._defaults:
            if values[name] is None:
                values[name] = default
        for name in JSON_FIELDS:
            values[name] = _json_text(values[name])
        for name in BODIES:
            values[name] = _body(values[name])
        row = self._row(values)
        if _NESTED.isdisjoint(map(type, row)):
            return row
        return tuple(_json_text(value) for value in row)  # an object where no line of ours has one
