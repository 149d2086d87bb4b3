"""The semantic index's journal on disk: an append-only file of adds and removes behind a header
naming the vector space, replayed and rewritten at start (`VectorIndex.open`), shared by the
processes of `serve --workers N` under an flock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from sluicegate.datafiles import private_directory, private_opener

Vector = NDArray[np.float32]
_MAGIC = b"SGVI2\n"
_RECORD = struct.Struct("<BHHdB")  # op, scope length, id length, expires_at, turns
_MAGIC_V1, _RECORD_V1 = b"SGVI1\n", struct.Struct("<BHHd")  # one turn per entry: read, then rewritten
ADD, REMOVE = 1, 2


@dataclass(frozen=True, slots=True)
class Entry:
    """`vector`: shape (turns, dimensions)."""

    scope: str
    id: str
    vector: Vector
    expires_at: float


class VectorFile:
    """An append-only journal of adds and removes, behind a header naming the vector space.

    Several processes may share it (`serve --workers N`): appends hold a shared flock on a lock file
    beside it, a compaction (replay and rewrite, `VectorIndex.open`) an exclusive one, and an append
    reopens the journal when a compaction replaced it, so no process writes into a replaced file."""

    def __init__(self, path: Path, model: str, dimensions: int) -> None:
        self.path = path
        self.header = _MAGIC + orjson.dumps({"model": model, "dimensions": dimensions}) + b"\n"
        self.dimensions = dimensions
        self._file: Any = None
        self._lock_fd: int | None = None

    @contextlib.contextmanager
    def locked(self, kind: int) -> Iterator[None]:
        """Hold an flock (`fcntl.LOCK_SH` or `LOCK_EX`) on `<journal>.lock`, for every process."""
        if self._lock_fd is None:
            private_directory(self.path.parent)
            lock = self.path.with_suffix(self.path.suffix + ".lock")
            self._lock_fd = private_opener(str(lock), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        fcntl.flock(self._lock_fd, kind)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def replay(self) -> Iterator[Entry]:
        """Every live entry, in order; a record torn by a crash ends the journal there. A journal
        of the previous format (one turn per entry) is read too; `rewrite` then upgrades it."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        old = self.header.replace(_MAGIC, _MAGIC_V1, 1)
        if not data.startswith((self.header, old)):
            # Another embedder (or format) wrote it: keep it aside, start empty.
            os.replace(self.path, self.path.with_suffix(self.path.suffix + ".stale"))
            return
        record = _RECORD if data.startswith(self.header) else _RECORD_V1
        live: dict[tuple[str, str], Entry] = {}
        offset, width = len(self.header), self.dimensions * 4
        while offset + record.size <= len(data):
            op, scope_len, id_len, expires_at, *rest = record.unpack_from(data, offset)
            turns = rest[0] if rest else 1
            start = offset + record.size
            end = start + scope_len + id_len + (width * turns if op == ADD else 0)
            if end > len(data) or op not in (ADD, REMOVE):
                break
            scope = data[start : start + scope_len].decode()
            id = data[start + scope_len : start + scope_len + id_len].decode()
            if op == ADD:
                vector = np.frombuffer(
                    data, dtype=np.float32, count=self.dimensions * turns, offset=end - width * turns
                )
                live[scope, id] = Entry(scope, id, vector.reshape(turns, self.dimensions).copy(), expires_at)
            else:
                live.pop((scope, id), None)
            offset = end
        yield from live.values()

    def rewrite(self, entries: Iterator[Entry]) -> None:
        """Replace the journal by one add per live entry (atomically: a crash keeps the old one).
        The caller holds `locked(LOCK_EX)`."""
        self._close_file()
        private_directory(self.path.parent)
        temporary = self.path.with_suffix(f"{self.path.suffix}.{os.getpid()}.tmp")
        with open(temporary, "wb", opener=private_opener) as file:
            file.write(self.header)
            for entry in entries:
                file.write(_record(ADD, entry.scope, entry.id, entry.expires_at, entry.vector))
        os.replace(temporary, self.path)

    def append(self, op: int, scope: str, id: str, expires_at: float, vector: Vector | None) -> None:
        with self.locked(fcntl.LOCK_SH):
            if self._file is not None and self._replaced():
                self._close_file()  # another process compacted it: append to the live file
            if self._file is None:
                private_directory(self.path.parent)
                fresh = not self.path.exists() or self.path.stat().st_size == 0
                self._file = open(self.path, "ab", opener=private_opener)  # noqa: SIM115  # kept open: the journal
                if fresh:
                    self._file.write(self.header)
            self._file.write(_record(op, scope, id, expires_at, vector))
            self._file.flush()  # before the lock is let go: a compaction then replays it

    def _replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            return True

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._close_file()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _close_file(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


def _record(op: int, scope: str, id: str, expires_at: float, vector: Vector | None) -> bytes:
    """`vector`: turns x dimensions (None for a removal)."""
    scope_bytes, id_bytes = scope.encode(), id.encode()
    turns = 0 if vector is None else len(vector)
    head = _RECORD.pack(op, len(scope_bytes), len(id_bytes), expires_at, turns)
    body = b"" if vector is None else np.asarray(vector, dtype="<f4").tobytes()
    return head + scope_bytes + id_bytes + body
