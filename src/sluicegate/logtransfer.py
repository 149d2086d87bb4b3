"""Log records out of a running gateway and into a database: the work behind `sluicegate logs
export` and `sluicegate logs import`.

Export reads the gateway's NDJSON export (`endpoints/export.py`) and writes its lines as they
come, whole lines only. An export that breaks off can go on where it stopped: the last line of
the file holds the cursor to resume from (`resume_point` finds it and cuts a half-written line).
Import parses each line back into a record (`logformat.py`) and writes them in batches; a record
already stored is left as it is, so importing the same file twice stores each record once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

import orjson

from sluicegate.logformat import RecordFormatError, parse_record
from sluicegate.remote import Remote, StreamBroken
from sluicegate.storage.base import LogRecord, LogSink

CURSOR = "cursor"  # the key of an export line that is no field of the record
IMPORT_BATCH = 500


class ExportInterrupted(Exception):
    """The export stopped before its end; `cursor` continues it (None: nothing arrived yet)."""

    def __init__(self, message: str, written: int, cursor: str | None) -> None:
        super().__init__(message)
        self.written = written
        self.cursor = cursor


class NotAnExport(Exception):
    """A file to resume whose last line holds no export cursor."""


class ImportFailed(Exception):
    """A line that is not a log record; the message names the line and the field."""


class Lines(Protocol):
    """Where an export's lines go: a file, stdout."""

    def write(self, line: bytes, /) -> object: ...

    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ExportRequest:
    account: str
    gateway: str
    filters: dict[str, str]  # the export's query parameters (a cursor among them when resuming)

    @property
    def path(self) -> str:
        return (
            f"/api/v1/accounts/{quote(self.account, safe='')}/gateways/{quote(self.gateway, safe='')}"
            "/logs/export"
        )


def export(remote: Remote, request: ExportRequest, out: Lines) -> int:
    """Write the export's lines to `out` as they arrive; how many. `ExportInterrupted` when the
    gateway's answer breaks off (what arrived whole is written)."""
    written, cursor = 0, request.filters.get(CURSOR)
    try:
        for line in remote.lines(request.path, request.filters):
            out.write(line)
            written += 1
            cursor = _cursor_of(line) or cursor
    except StreamBroken as exc:
        raise ExportInterrupted(str(exc), written, cursor) from exc
    finally:
        out.flush()
    return written


def resume_point(path: Path) -> str | None:
    """The cursor of the last whole line of an export file, after cutting off a half-written last
    line; None for a file that is missing or has no whole line (start from the beginning). Reads
    the file from its end: an export may be large."""
    try:
        with path.open("r+b") as file:
            tail = _tail(file)
            end = tail.rfind(b"\n") + 1
            file.truncate(file.seek(0, 2) - (len(tail) - end))  # the writer may have stopped mid-line
    except FileNotFoundError:
        return None
    last = tail[:end].rstrip(b"\n").rpartition(b"\n")[2]
    if not last:
        return None
    cursor = _cursor_of(last)
    if cursor is None:
        raise NotAnExport(f"the last line of {path} holds no export cursor: is it a `logs export` file?")
    return cursor


def _tail(file: BinaryIO, block: int = 1 << 16) -> bytes:
    """The end of a file holding its last two newlines (or the whole file, if it has fewer)."""
    size = file.seek(0, 2)
    start = size
    tail = b""
    while start > 0 and tail.count(b"\n") < 2:
        start = max(0, start - block)
        file.seek(start)
        tail = file.read(size - start)
    return tail


def _cursor_of(line: bytes) -> str | None:
    try:
        cursor = orjson.loads(line).get(CURSOR)
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return cursor if isinstance(cursor, str) else None


async def import_records(sink: LogSink, lines: Iterable[bytes]) -> int:
    """Store every record of an export's lines (blank lines skipped); how many were read.
    `ImportFailed` names the first bad line; the lines before it are stored."""
    batch: list[LogRecord] = []
    read = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            batch.append(parse_record(orjson.loads(line), ignore=frozenset({CURSOR})))
        except (orjson.JSONDecodeError, RecordFormatError) as exc:
            if batch:
                await sink.write_logs(batch)
            raise ImportFailed(f"line {number}: {exc}") from exc
        read += 1
        if len(batch) >= IMPORT_BATCH:
            await sink.write_logs(batch)
            batch = []
    if batch:
        await sink.write_logs(batch)
    return read
