"""A log record as one JSON object: a line of an NDJSON export, and back into a record.

Every field of `LogRecord` under its own name, so a record exported and imported again is the same
record: the same id and time, bodies byte for byte. Floats come out as the shortest text that reads
back to the same double (orjson). Bodies are text when they are UTF-8, else `base64:` followed by
their bytes in base64; a UTF-8 body that itself starts with `base64:` is written in base64 too, so
reading one back is never ambiguous. Request headers were masked when the record was made: an
export holds no credential the database does not.
"""

from __future__ import annotations

import base64
import binascii
import types
from dataclasses import MISSING, asdict, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

import orjson

from sluicegate.storage.base import LogRecord

BASE64 = "base64:"
BODIES = ("request_body", "response_body")
_TYPES = get_type_hints(LogRecord)
_REQUIRED = frozenset(
    f.name for f in fields(LogRecord) if f.default is MISSING and f.default_factory is MISSING
)


class RecordFormatError(ValueError):
    """A JSON object that is not a log record; the message names the field."""


def record_object(record: LogRecord) -> dict[str, Any]:
    """The record as a JSON-ready dict (see the module docstring)."""
    values = asdict(record)
    for name in BODIES:
        values[name] = _body_text(values[name])
    return values


def record_line(record: LogRecord, **extra: Any) -> bytes:
    """One NDJSON line: the record's fields, then `extra` (e.g. an export's resume cursor)."""
    return orjson.dumps(record_object(record) | extra) + b"\n"


def fast_record_line(record: LogRecord) -> bytes:
    """`record_line(record)`, the same bytes, about five times faster: orjson walks the dataclass
    itself (no `asdict` copy) and calls back only for the bodies (the record's only bytes)."""
    return orjson.dumps(record, default=_bytes_text, option=orjson.OPT_APPEND_NEWLINE)


def _bytes_text(value: Any) -> str:
    if isinstance(value, bytes):
        return _body_text(value) or ""
    raise TypeError(f"{type(value).__name__} is not a field type of log records")


def parse_record(value: Any, ignore: frozenset[str] = frozenset()) -> LogRecord:
    """The record a JSON object holds; `ignore` names keys that are not fields (e.g. `cursor`).

    A key that is no field is refused rather than dropped: a record exported by a newer gateway
    would otherwise be stored without what this one does not know."""
    if not isinstance(value, dict):
        raise RecordFormatError(f"a log record is a JSON object, got {_json_type(value)}")
    unknown = sorted(set(value) - set(_TYPES) - ignore)
    if unknown:
        raise RecordFormatError(f"unknown field {unknown[0]!r}: not a field of this version's log records")
    missing = sorted(_REQUIRED - set(value))
    if missing:
        raise RecordFormatError(f"field {missing[0]!r} is missing")
    values = {name: item for name, item in value.items() if name not in ignore}
    for name, item in values.items():
        if name in BODIES:
            values[name] = _body_bytes(name, item)
        elif not _fits(item, _TYPES[name]):
            raise RecordFormatError(
                f"field {name!r} must be {_describe(_TYPES[name])}, got {_json_type(item)}"
            )
    return LogRecord(**values)


def _body_text(body: bytes | None) -> str | None:
    if body is None:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = BASE64
    if text.startswith(BASE64):
        return BASE64 + base64.b64encode(body).decode("ascii")
    return text


def _body_bytes(name: str, text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RecordFormatError(f"field {name!r} must be a string or null, got {_json_type(text)}")
    if not text.startswith(BASE64):
        return text.encode("utf-8")
    try:
        return base64.b64decode(text[len(BASE64) :], validate=True)
    except binascii.Error as exc:
        raise RecordFormatError(f"field {name!r}: {BASE64}… holds no valid base64 ({exc})") from exc


def _fits(value: Any, kind: Any) -> bool:
    """Whether a JSON value fits a field's annotation (only the shapes `LogRecord` uses)."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in get_args(kind))
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if origin is dict:
        return isinstance(value, dict)
    if origin is list:
        return isinstance(value, list)
    return False


_NAMES: dict[Any, str] = {
    type(None): "null", bool: "a boolean", int: "an integer", float: "a number", str: "a string",
    dict: "an object", list: "an array",
}  # fmt: skip


def _describe(kind: Any) -> str:
    if get_origin(kind) in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in get_args(kind))
    return _NAMES.get(get_origin(kind) or kind, str(kind))


def _json_type(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)
