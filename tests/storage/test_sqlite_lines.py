"""Spool lines turned into rows in Python (`sqlite_lines.py`) are stored exactly as SQLite's own
JSON functions stored them before: every column's value and type, the rowid order, the roll-ups,
and the same lines refused. The statement SQLite used is kept here as the reference."""

from __future__ import annotations

import asyncio
import base64
import random
import sqlite3
from collections.abc import Callable
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import orjson
import pytest

from sluicegate.logformat import record_object
from sluicegate.storage import sqlite_analytics
from sluicegate.storage.log_lines import BODIES, DEFAULTS, REQUIRED
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.storage.sqlite_files import connect
from sluicegate.storage.sqlite_logs import _LOG_COLUMNS, _insert_lines, _insert_logs
from tests.storage.database_contract import record
from tests.storage.log_lines_contract import lines_of, varied


# The removed SQLite statement and its helpers, kept verbatim as the oracle the new way is checked
# against; not built from log_lines.py's PostgreSQL helpers, which must stay free to change.
def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, dict):
        return "'{}'"
    if isinstance(value, list):
        return "'[]'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _value(name: str) -> str:
    value = f"json_extract(line, '$.{name}')"
    if name in BODIES:
        return (
            f"CASE WHEN substr({value}, 1, 7) = 'base64:' THEN sg_base64(substr({value}, 8))"
            f" ELSE CAST({value} AS BLOB) END"
        )
    default = DEFAULTS[name]
    if default is MISSING or default is None:
        return value
    return f"coalesce({value}, {_literal(default)})"


def _sql_insert(columns: list[str]) -> str:
    """The statement SQLite parsed each spool line with until `sqlite_lines.py` replaced it."""
    present = " AND ".join(f"json_type(line, '$.{name}') IS NOT NULL" for name in REQUIRED)
    known = ", ".join(f"'{name}'" for name in DEFAULTS)
    present += f" AND NOT EXISTS (SELECT 1 FROM json_each(line) WHERE key NOT IN ({known}))"
    return (
        f"INSERT OR IGNORE INTO logs ({', '.join(columns)})"
        f" SELECT {', '.join(_value(name) for name in columns)} FROM (SELECT CAST(? AS TEXT) AS line)"
        f" WHERE CASE WHEN {present} THEN 1 ELSE sg_refuse(line) END"
    )


def _refuse(line: str) -> None:
    raise ValueError(line)


def _stored(db: sqlite3.Connection, lines: list[bytes]) -> bool:
    """`_insert_lines`'s steps run here one after the other, as the writer's worker runs them."""
    steps = _insert_lines(db, lines)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return bool(stop.value)


def _sql_insert_lines(db: sqlite3.Connection, lines: list[bytes]) -> bool:
    db.create_function("sg_base64", 1, lambda text: base64.b64decode(text, validate=True))
    db.create_function("sg_refuse", 1, _refuse)
    db.execute("BEGIN")
    try:
        last = sqlite_analytics.last_log_rowid(db)
        db.executemany(_sql_insert(_LOG_COLUMNS), zip(lines))
        sqlite_analytics.roll_up(db, after_rowid=last)
    except (sqlite3.IntegrityError, sqlite3.OperationalError):
        db.execute("ROLLBACK")
        return False
    db.execute("COMMIT")
    return True


@pytest.fixture
def both(tmp_path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """Two new databases: one for the old way, one for the new."""

    async def made(path: Path) -> Path:
        database = SqliteDatabase(path)
        await database.open()
        await database.close()
        return path

    return (
        connect(asyncio.run(made(tmp_path / "sql.db"))),
        connect(asyncio.run(made(tmp_path / "python.db"))),
    )


def _contents(db: sqlite3.Connection) -> dict[str, list[list[tuple[str, Any]]]]:
    """Every row of the logs (in rowid order) and of the roll-ups, each value with its Python type."""
    found = {"logs": db.execute("SELECT rowid, * FROM logs ORDER BY rowid").fetchall()}
    for table in ("analytics_rollup", "latency_rollup"):  # WITHOUT ROWID
        found[table] = sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    return {
        table: [[(type(value).__name__, value) for value in row] for row in rows]
        for table, rows in found.items()
    }


def _line(base: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps(base | changes)


def _odd_lines() -> list[bytes]:
    """Lines no gateway writes but the old statement stored: nulls for defaulted fields, fields
    missing, values of another type than the field's."""
    serial = iter(range(10**6))

    def base(**fields: Any) -> dict[str, Any]:
        return record_object(record(ts=1_800_000_000 + next(serial) * 7.25, gateway="odd", **fields))

    nullable = [n for n, d in DEFAULTS.items() if d is not MISSING and d is not None]
    bare = {name: value for name, value in base().items() if name in REQUIRED}
    nested = {"é": ["ü ✓", 1.5e300, -0.0, 1e-7, 2**62, None, True, {"k": {}}], "": [], "q": 'a"b\\c'}
    return [
        _line(base(), **dict.fromkeys(nullable)),  # null: the default
        orjson.dumps(bare | {"id": "bare" + bare["id"][4:]}),  # only the required fields
        _line(base(metadata=nested, attempts=[{"provider": "x", "n": 0.1}])),
        _line(base(), metadata=7, request_headers=5, attempts=True),  # JSON fields holding scalars
        _line(base(), stream=None),  # null in a NOT NULL column: ignored (INSERT OR IGNORE), not stored
        _line(base(), status="200", latency_ms="12.5", tokens_in=3.0, feedback=True, semantic_verified=1),
        _line(base(), error={"a": [1, None]}, model=["m"], degraded=False),  # objects where text goes
        _line(base(), request_body="base64:", response_body="base64:AAEC/w=="),
        _line(base(), request_body="", response_body='héllo ✓ \n\t"q"'),
        _line(base(), request_body=None, response_body="base64:" + base64.b64encode(b"\xff\x00").decode()),
        _line(base(), ttfb_ms=None, model=None, cost_usd=5e-324, score=-1.7976931348623157e308),
    ]


def test_lines_are_stored_as_sqlites_json_functions_stored_them(
    both: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    by_sql, by_python = both
    lines = lines_of(varied(random.Random(5), "varied", 200)) + _odd_lines()
    random.Random(6).shuffle(lines)
    batches = [lines[:37], lines[20:150], lines[150:]]  # overlapping: lines stored twice are kept once
    for batch in batches:
        assert _sql_insert_lines(by_sql, batch)
        assert _stored(by_python, batch)
    stored = _contents(by_python)
    assert len(stored["logs"]) == len(lines) - 1  # all but the one with a null stream
    assert stored["latency_rollup"]
    assert stored == _contents(by_sql)


_NO_RECORD: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "not json": lambda good: b"not json",
    "an array": lambda good: b"[1, 2]",
    "a string": lambda good: b'"text"',
    "required field missing": lambda good: orjson.dumps({k: v for k, v in good.items() if k != "model"}),
    "key that is no field": lambda good: orjson.dumps({"from_the_future": 1} | good),
    "bad base64": lambda good: orjson.dumps(good | {"request_body": "base64:not base64!"}),
    "metadata that is no JSON": lambda good: orjson.dumps(good | {"metadata": "text"}),  # logs_guarded
}


@pytest.mark.parametrize("bad", list(_NO_RECORD))
def test_a_batch_with_a_line_that_is_no_record_is_refused_both_ways(
    both: tuple[sqlite3.Connection, sqlite3.Connection], bad: str
) -> None:
    good = [record_object(record(ts=1_800_000_000 + n)) for n in range(19)]
    # The bad line last: the rows inserted before it are undone too.
    batch = [*(orjson.dumps(obj) for obj in good[1:]), _NO_RECORD[bad](good[0])]
    for db, insert in zip(both, (_sql_insert_lines, _stored), strict=True):
        assert not insert(db, batch)
        assert db.execute("SELECT count(*) FROM logs").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM analytics_rollup").fetchone() == (0,)
        assert insert(db, batch[:-1])  # the connection is usable again


@pytest.mark.parametrize("tokens", [2**63, 2**64 - 1])  # orjson writes no larger, nor below -2**63
def test_a_count_past_sqlites_integers_is_stored_as_a_float_as_before(
    both: tuple[sqlite3.Connection, sqlite3.Connection], tokens: int
) -> None:
    # An upstream's -1 read as unsigned: refusing it would hold every later record in the spool.
    line = _line(record_object(record()), tokens_in=tokens)
    assert _sql_insert_lines(both[0], [line])
    assert _stored(both[1], [line])
    stored = [db.execute("SELECT tokens_in, typeof(tokens_in) FROM logs").fetchone() for db in both]
    assert stored[0] == stored[1] == (float(tokens), "real")


def test_a_record_with_such_a_count_is_stored_the_python_way_too(
    both: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    db = both[1]
    for _ in _insert_logs(db, [record(id="a" * 32, tokens_in=2**64 - 1), record(id="b" * 32)]):
        pass
    assert db.execute("SELECT count(*) FROM logs").fetchone() == (2,)
    found = db.execute("SELECT tokens_in FROM logs WHERE id = ?", ("a" * 32,)).fetchone()
    assert found == (float(2**64 - 1),)


@pytest.mark.parametrize("change", [{"request_body": 5}, {"response_body": {"a": 1}}])
def test_a_body_that_is_no_text_the_old_statement_stored_is_refused(
    both: tuple[sqlite3.Connection, sqlite3.Connection], change: dict[str, Any]
) -> None:
    line = _line(record_object(record()), **change)
    assert _sql_insert_lines(both[0], [line])  # stored as bytes or a float: no record has that
    assert not _stored(both[1], [line])
    assert both[1].execute("SELECT count(*) FROM logs").fetchone() == (0,)


class _FullDisk:
    """The writer's connection, on a disk that fills up just as a batch commits."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self.db.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction


def test_a_batch_whose_commit_fails_leaves_no_transaction_open(
    both: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    db = both[1]
    lines = [orjson.dumps(record_object(record(ts=1_800_000_000 + n))) for n in range(3)]
    assert not _stored(_FullDisk(db), lines)  # type: ignore[arg-type]  # refused: tried again later
    assert not db.in_transaction
    with pytest.raises(sqlite3.OperationalError):
        for _ in _insert_logs(_FullDisk(db), [record()]):  # type: ignore[arg-type]
            pass
    assert not db.in_transaction
    assert _stored(db, lines)  # the disk has room again: the next batch is stored
    assert db.execute("SELECT count(*) FROM logs").fetchone() == (3,)
