"""The semantic cache's in-process vector index: unit vectors partitioned by scope, cosine search.

Each scope (`scope.read_scope(...).scope`) is its own partition, searched alone, so a neighbour
from another gateway, model or conversation can never be returned. An entry is one unit vector
per compared turn (the last question, then its context: `Scoped.turns`); every entry of a scope
has the same number of turns, since that number is part of the scope. Its similarity to a query
is the *lowest* cosine over the turns, so among stored conversations ending in the same "What's
their phone number?" the one about the same place ranks first. A partition is a numpy matrix
searched by brute force (one matrix-vector product per turn); past `hnsw_from` entries it also
gets a usearch HNSW graph (over the turns' mean cosine, re-scored exactly), built once on a
worker thread while brute force keeps answering.

Persistence: with a `VectorFile`, every add and remove is appended to a journal, replayed (and
compacted) by `VectorIndex.open` after a restart. The file records the embedder's name and
dimensions; a file written by another embedder is set aside, not mixed in. The workers of
`serve --workers N` share the file: an flock on `<journal>.lock` keeps one worker's compaction from
losing what another appends (see `VectorFile`).

Thread-safe: the gateway calls it from worker threads, off the event loop.
"""

from __future__ import annotations

import fcntl
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sluicegate.semantic.vector_file import ADD, REMOVE, Entry, Vector, VectorFile


class VectorIndex:
    def __init__(
        self,
        dimensions: int,
        *,
        journal: VectorFile | None = None,
        hnsw_from: int = 50_000,
        background: bool = True,
    ) -> None:
        """`hnsw_from`: partition size from which an HNSW graph is built (on a thread unless
        `background` is False, e.g. in tests)."""
        self.dimensions = dimensions
        self._journal = journal
        self._hnsw_from = hnsw_from
        self._background = background
        self._partitions: dict[str, _Partition] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, model: str, dimensions: int, **options: Any) -> VectorIndex:
        """The index saved at `path` (created when missing), its journal compacted."""
        journal = VectorFile(path, model, dimensions)
        index = cls(dimensions, journal=None, **options)
        with journal.locked(fcntl.LOCK_EX):  # no other worker appends between replay and rewrite
            for entry in journal.replay():
                index.add(entry.scope, entry.id, entry.vector, entry.expires_at)
            journal.rewrite(index.entries())
        index._journal = journal
        return index

    def add(self, scope: str, id: str, vector: Vector, expires_at: float = math.inf) -> None:
        """Store `vector` (unit rows, one per turn; a single vector is one turn) under `id`; an
        existing `id` in `scope` is replaced."""
        rows = self._rows(vector)
        with self._lock:
            partition = self._partitions.get(scope)
            if partition is None:
                partition = self._partitions[scope] = _Partition(self.dimensions, len(rows))
            if partition.turns != len(rows):
                raise ValueError(f"scope {scope!r} holds entries of {partition.turns} turns, not {len(rows)}")
            partition.put(id, rows.reshape(-1), expires_at)
            build = partition.size >= self._hnsw_from and partition.graph is None and not partition.building
            partition.building = partition.building or build
            if self._journal is not None:
                self._journal.append(ADD, scope, id, expires_at, rows)
        if build and self._background:
            threading.Thread(target=self._build_graph, args=(partition,), daemon=True).start()
        elif build:
            self._build_graph(partition)

    def search(
        self, scope: str, vector: Vector, k: int = 1, now: float | None = None
    ) -> list[tuple[str, float]]:
        """Up to `k` (id, similarity) of `scope`, best first; entries expired at `now` skipped.
        The similarity is the lowest cosine over the turns (`vector`: one row per turn)."""
        query = self._rows(vector)
        with self._lock:
            partition = self._partitions.get(scope)
            if partition is None or partition.size == 0 or partition.turns != len(query):
                return []
            return partition.search(query, k, -math.inf if now is None else now)

    def holds(self, scope: str) -> bool:
        """Whether `scope` has entries: a hint read without the lock (so the event loop may ask
        while a search runs); an entry added meanwhile may be missed."""
        return scope in self._partitions

    def vectors(self, scope: str, id: str) -> Vector | None:
        """The stored rows of `id` (turns x dimensions), or None when it is not there."""
        with self._lock:
            partition = self._partitions.get(scope)
            row = None if partition is None else partition.rows.get(id)
            if partition is None or row is None:
                return None
            rows: Vector = partition.vectors[row].reshape(partition.turns, self.dimensions).copy()
            return rows

    def remove(self, scope: str, id: str) -> bool:
        with self._lock:
            partition = self._partitions.get(scope)
            if partition is None or not partition.delete(id):
                return False
            if partition.size == 0:
                del self._partitions[scope]
            if self._journal is not None:
                self._journal.append(REMOVE, scope, id, 0.0, None)
            return True

    def purge(self, prefix: str = "") -> int:
        """Remove every entry of every scope starting with `prefix` (a gateway: `account/slug/`)."""
        with self._lock:
            doomed = [scope for scope in self._partitions if scope.startswith(prefix)]
            removed = 0
            for scope in doomed:
                partition = self._partitions.pop(scope)
                removed += partition.size
                if self._journal is not None:
                    for id in partition.ids[: partition.size]:
                        self._journal.append(REMOVE, scope, id, 0.0, None)
            return removed

    def expire(self, now: float) -> int:
        """Drop entries whose `expires_at` has passed; returns how many."""
        removed = 0
        with self._lock:
            scopes = list(self._partitions)
        for scope in scopes:
            with self._lock:
                partition = self._partitions.get(scope)
                stale = [] if partition is None else partition.expired(now)
            for id in stale:
                removed += self.remove(scope, id)
        return removed

    def entries(self) -> Iterator[Entry]:
        with self._lock:
            snapshot = [(scope, p.ids[: p.size], p.vectors[: p.size].reshape(p.size, p.turns, -1).copy(),
                         p.expires[: p.size].copy()) for scope, p in self._partitions.items()]  # fmt: skip
        for scope, ids, vectors, expires in snapshot:
            for id, vector, expires_at in zip(ids, vectors, expires, strict=True):
                yield Entry(scope, id, vector, float(expires_at))

    def flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def uses_graph(self, scope: str) -> bool:
        """Whether `scope` is searched through its HNSW graph (else by brute force)."""
        with self._lock:
            partition = self._partitions.get(scope)
            return partition is not None and partition.graph is not None

    def __len__(self) -> int:
        with self._lock:
            return sum(partition.size for partition in self._partitions.values())

    def _rows(self, vector: Vector) -> Vector:
        rows: Vector = np.asarray(vector, dtype=np.float32).reshape(-1, self.dimensions)
        return rows

    def _build_graph(self, partition: _Partition) -> None:
        """Build the HNSW graph off the request path; entries added meanwhile are caught up under
        the lock before the graph is switched on."""
        try:
            from usearch.index import Index
        except ImportError:  # usearch is optional: brute force keeps working, only slower
            return
        # int8 graph: 4x less memory and ~3x faster to build than float32; candidates are re-scored
        # exactly from the float32 rows, so the similarity returned is never the quantised one.
        graph = Index(
            ndim=self.dimensions * partition.turns,
            metric="ip",
            dtype="i8",
            connectivity=16,
            expansion_add=64,
            expansion_search=256,
        )
        with self._lock:
            labels = partition.labels[: partition.size].copy()
            vectors = partition.vectors[: partition.size] * partition.scale
        graph.add(labels, vectors, threads=1)
        with self._lock:
            known = set(labels.tolist())
            for row in range(partition.size):
                if int(partition.labels[row]) not in known:
                    graph.add(int(partition.labels[row]), partition.vectors[row] * partition.scale)
            live = set(partition.labels[: partition.size].tolist())
            for label in known - live:
                graph.remove(label)
            partition.graph = graph
            partition.building = False


class _Partition:
    """One scope's vectors: rows `[0, size)` of `vectors` are live, each the `turns` unit vectors
    of one entry side by side; a removed row is filled by the last one. `labels` are the integer
    keys of the HNSW graph, stable across such moves; the graph holds rows scaled by `scale`, so
    its inner product is the mean cosine over the turns."""

    def __init__(self, dimensions: int, turns: int) -> None:
        self.turns = turns
        self.scale = np.float32(1 / math.sqrt(turns))
        self.vectors = np.empty((1, dimensions * turns), dtype=np.float32)
        self.expires = np.empty(1, dtype=np.float64)
        self.labels = np.empty(1, dtype=np.uint64)
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.by_label: dict[int, str] = {}
        self.size = 0
        self.next_label = 0
        self.graph: Any = None
        self.building = False

    def put(self, id: str, vector: Vector, expires_at: float) -> None:
        if id in self.rows:
            self.delete(id)
        if self.size == len(self.vectors):
            grow = len(self.vectors) * 2
            self.vectors = np.resize(self.vectors, (grow, self.vectors.shape[1]))
            self.expires = np.resize(self.expires, grow)
            self.labels = np.resize(self.labels, grow)
        row, label = self.size, self.next_label
        self.vectors[row], self.expires[row], self.labels[row] = vector, expires_at, label
        self.next_label += 1
        if row < len(self.ids):
            self.ids[row] = id
        else:
            self.ids.append(id)
        self.rows[id], self.by_label[label] = row, id
        self.size += 1
        if self.graph is not None:
            self.graph.add(label, vector * self.scale)

    def delete(self, id: str) -> bool:
        row = self.rows.pop(id, None)
        if row is None:
            return False
        label = int(self.labels[row])
        del self.by_label[label]
        if self.graph is not None:
            self.graph.remove(label)
        last = self.size - 1
        if row != last:
            self.vectors[row], self.expires[row], self.labels[row] = (
                self.vectors[last], self.expires[last], self.labels[last]
            )  # fmt: skip
            self.ids[row] = self.ids[last]
            self.rows[self.ids[row]] = row
        self.size = last
        return True

    def search(self, query: Vector, k: int, now: float) -> list[tuple[str, float]]:
        """`query`: one row per turn."""
        if self.graph is not None:
            found = self.graph.search(query.reshape(-1) * self.scale, min(k * 4 + 8, self.size))
            rows = [self.rows.get(self.by_label.get(int(label), ""), -1) for label in found.keys.tolist()]
            rows = [row for row in rows if row >= 0 and self.expires[row] > now]
            if len(rows) >= min(k, self.size):
                exact = self._scores(self.vectors[rows], query)
                order = np.argsort(-exact)[:k]
                return [(self.ids[rows[i]], float(exact[i])) for i in order]
        scores = self._scores(self.vectors[: self.size], query)
        scores[self.expires[: self.size] <= now] = -np.inf
        count = min(k, self.size)
        best = np.argpartition(-scores, count - 1)[:count] if count < self.size else np.arange(self.size)
        best = best[np.argsort(-scores[best])]
        return [(self.ids[row], float(scores[row])) for row in best if scores[row] > -np.inf]

    def _scores(self, vectors: Vector, query: Vector) -> Vector:
        """The lowest cosine over the turns of each row."""
        width = query.shape[1]
        scores: Vector = vectors[:, :width] @ query[0]
        for turn in range(1, self.turns):
            np.minimum(scores, vectors[:, turn * width : (turn + 1) * width] @ query[turn], out=scores)
        return scores

    def expired(self, now: float) -> list[str]:
        return [self.ids[row] for row in np.flatnonzero(self.expires[: self.size] <= now)]
