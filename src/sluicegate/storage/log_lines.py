"""Storing spool lines as they are, without a `LogRecord` built per line in Python: what every
backend shares, and PostgreSQL's statements, which have the database parse the NDJSON itself
(`json_to_recordset`: C code, no interpreter lock held). SQLite's writer turns each line into its
row with orjson instead (`sqlite_lines.py`): SQLite's JSON functions cost more than the insert.

A spool line is `logformat`'s JSON object of a record: every field under its own name, bodies as
text or `base64:…`. Each field is read straight out of the line; a field missing from it (a line
from an older gateway) gets the dataclass's default (`DEFAULTS`), as `parse_record` does.

A line that is no record (not an object, a required field missing, a key that is no field, bad
base64) makes the database refuse the whole batch; the caller then parses it in Python, which
skips just that line.

Lines the databases cannot hold as parsed text go the Python way (`needs_python`): a string with a
NUL (`\\u0000`: PostgreSQL's text cannot hold it; SQLite's lines are checked alike) and a line with
its gateway's `max_records` cap (the cap is counted against the stored records in Python).
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from sluicegate.storage.base import LogRecord

BODIES = ("request_body", "response_body")
JSON_FIELDS = ("metadata", "request_headers", "attempts")
_CAP_KEY = b'"cap":'  # the spool's cap key (logbook.CAP); a metadata key of that name is a false alarm
_NUL = b"\\u0000"


def needs_python(lines: list[bytes]) -> bool:
    """Whether a batch must be parsed into records in Python (see the module docstring)."""
    joined = b"\n".join(lines)
    return _CAP_KEY in joined or _NUL in joined


def _defaults() -> dict[str, Any]:
    """Each field's default, MISSING for the required ones."""
    found: dict[str, Any] = {}
    for item in fields(LogRecord):
        if item.default_factory is not MISSING:
            found[item.name] = item.default_factory()
        else:
            found[item.name] = item.default
    return found


DEFAULTS = _defaults()
# Present in every line (as null for some), as `parse_record` requires.
REQUIRED = tuple(name for name, default in DEFAULTS.items() if default is MISSING)
# A line with a key that is no field (from a newer gateway) is refused, as `parse_record` does.
_KNOWN = ", ".join(f"'{name}'" for name in DEFAULTS)


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _postgres_value(name: str, kind: str) -> str:
    if name in BODIES:
        return (
            f"CASE WHEN left(r.{name}, 7) = 'base64:' THEN decode(substr(r.{name}, 8), 'base64')"
            f" ELSE convert_to(r.{name}, 'UTF8') END"
        )
    default = DEFAULTS[name]
    if default is MISSING or default is None:
        return f"r.{name}"
    if isinstance(default, dict | list):
        return f"coalesce(r.{name}, '{'{}' if isinstance(default, dict) else '[]'}'::jsonb)"
    literal = ("true" if default else "false") if isinstance(default, bool) else _sql_literal(default)
    return f"coalesce(r.{name}, {literal})"


def postgres_insert(columns: list[str], kinds: list[str]) -> str:
    """INSERT … ON CONFLICT DO NOTHING of a JSON array of spool lines (`$1`, text), returning the
    stored rows' id and ts for the roll-ups."""
    shapes = ", ".join(
        f"{name} {'text' if name in BODIES else kind}" for name, kind in zip(columns, kinds, strict=True)
    )
    values = ", ".join(_postgres_value(name, kind) for name, kind in zip(columns, kinds, strict=True))
    return (
        f"INSERT INTO logs ({', '.join(columns)}) SELECT {values}"
        f" FROM json_to_recordset($1::json) AS r({shapes})"
        " ON CONFLICT DO NOTHING RETURNING id, ts"
    )


def postgres_days(day_seconds: int) -> str:
    """The distinct days (epoch day numbers) of a JSON array of spool lines (`$1`), and whether
    each line is an object holding every required field (`e->'x'` is SQL NULL only when absent)."""
    present = " AND ".join(f"e->'{name}' IS NOT NULL" for name in REQUIRED)
    present += f" AND NOT EXISTS (SELECT 1 FROM json_object_keys(e) AS k WHERE k NOT IN ({_KNOWN}))"
    return (
        f"SELECT array_agg(DISTINCT floor((e->>'ts')::float8 / {day_seconds})::int8),"
        f" bool_and(json_typeof(e) = 'object' AND {present})"
        " FROM json_array_elements($1::json) AS e"
    )
