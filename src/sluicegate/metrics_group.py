"""`/metrics` under `serve --workers N`: whichever worker answers reports the whole group.

Each worker keeps its own figures as before (dictionary sums: nothing shared, no lock and no system
call added to a request). Only a scrape does more: the worker that answers asks every other worker
for its metric families over a Unix socket (in a directory the parent made, 0700: the group's user
alone may connect) and adds them to its own. Counters and histograms are summed, so a total never
goes back when the next scrape reaches another worker (Prometheus reads a drop as a restart).
A gauge that states something of the replica as a whole, of which each worker holds its own view
(`HIGHEST`), takes the highest value; the other gauges (a spool's backlog, limiter failures) are
per worker, so summed.

A worker that does not answer within `ASK_SECONDS` (stuck, or gone) is left out of that scrape:
`sluicegate_workers_reporting` then says fewer than `sluicegate_workers`. A worker's replacement
takes its number, so its socket's path (a dead worker's file is replaced when it listens).

The directory is the parent's: it holds a lock on it (flock) for as long as it lives and removes
it when it exits. A parent killed with SIGKILL cannot: its workers, stopping on their own then,
remove it once the last one's socket is gone, and a directory whose lock nobody holds (its whole
group killed) is removed by the next `serve --workers N` of the same user.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

_log = logging.getLogger(__name__)
ASK_SECONDS = 3.0
# Families each worker reports for the replica as a whole (its own copy of shared state): the
# highest, not the sum (two workers seeing a circuit open is one open circuit).
HIGHEST = frozenset(
    {
        "sluicegate_circuit",
        "sluicegate_provider_key",
        "sluicegate_redis_unreachable",
        "sluicegate_semantic_entries",
    }
)
GROUP_PREFIX = "sluicegate-group-"
_MAKING_PREFIX = "sluicegate-making-"  # not yet locked: never taken for a dead group's
Families = list[tuple[str, str, str, list[tuple[str, dict[str, str], float]]]]


def dump(registry: CollectorRegistry) -> bytes:
    """This process's metric families: name, type, help and samples (name, labels, value)."""
    return orjson.dumps(
        [
            (
                family.name,
                family.type,
                family.documentation,
                [(s.name, s.labels, s.value) for s in family.samples],
            )
            for family in registry.collect()
        ]
    )


def exposition(registry: CollectorRegistry, others: Sequence[bytes], workers: int) -> bytes:
    """The Prometheus text of this worker's families and `others`' together, and how many of the
    `workers` reported."""
    merged: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    labels_of: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}
    for families in [orjson.loads(dump(registry)), *(orjson.loads(other) for other in others)]:
        for name, kind, documentation, samples in families:
            _, _, values = merged.setdefault(name, (kind, documentation, {}))
            highest = name in HIGHEST
            for sample, labels, value in samples:
                key = (sample, tuple(sorted(labels.items())))
                value = math.nan if value is None else value  # orjson writes NaN as null
                if key not in values:
                    values[key], labels_of[key] = value, labels
                else:
                    values[key] = max(values[key], value) if highest else values[key] + value
    metrics: list[Metric] = []
    for name, (kind, documentation, values) in merged.items():
        metric = Metric(name, documentation, kind)
        for key, value in values.items():
            metric.add_sample(key[0], labels_of[key], value)
        metrics.append(metric)
    for name, documentation, value in (
        ("sluicegate_workers", "Worker processes of serve --workers N", workers),
        ("sluicegate_workers_reporting", "Workers whose figures this scrape sums", 1 + len(others)),
    ):
        metric = Metric(name, documentation, "gauge")
        metric.add_sample(name, {}, value)
        metrics.append(metric)
    return generate_latest(_Fixed(metrics))


class _Fixed(Collector):
    """A collector-shaped holder of families already made, for `generate_latest`."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def make_directory() -> tuple[Path, int]:
    """A new directory for a group's sockets (0700, in the temporary directory), and the descriptor
    that holds its lock; the directories of groups no longer running are removed first."""
    root = Path(tempfile.gettempdir())
    remove_stale(root)
    making = Path(tempfile.mkdtemp(prefix=_MAKING_PREFIX, dir=root))
    lock = os.open(making, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    directory = root / (GROUP_PREFIX + making.name.removeprefix(_MAKING_PREFIX))
    os.rename(making, directory)  # the lock goes with it: it is never seen unlocked under this name
    return directory, lock


def remove_stale(root: Path) -> None:
    """Remove this user's group directories under `root` whose lock nobody holds: their parent
    was killed with SIGKILL and the workers could not remove them (killed too, or one's socket left)."""
    for directory in root.glob(f"{GROUP_PREFIX}*"):
        try:
            found = directory.lstat()
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue
            lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # removed meanwhile
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a running group's
        else:
            _remove(directory)
            _log.info("removed %s, left by a group of workers no longer running", directory)
        finally:
            os.close(lock)


def _remove(directory: Path) -> None:
    """`directory` and its sockets, as far as another process removing it meanwhile leaves them."""
    with contextlib.suppress(FileNotFoundError):
        for leftover in directory.iterdir():
            leftover.unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        directory.rmdir()


class WorkerGroup:
    """This worker's place among the workers: it answers their asks with its own families and
    asks them for theirs. `orphaned` says whether the parent has gone (workers.parent_gone)."""

    def __init__(
        self,
        directory: Path,
        index: int,
        count: int,
        figures: Callable[[], bytes],
        orphaned: Callable[[], bool] = lambda: False,
    ) -> None:
        self.count = count
        self._directory = directory
        self._orphaned = orphaned
        self._path = directory / f"{index}.sock"
        self._others = [directory / f"{n}.sock" for n in range(count) if n != index]
        self._figures = figures
        self._server: asyncio.AbstractServer | None = None

    async def start(self, *_: object) -> None:
        self._server = await asyncio.start_unix_server(self._answer, path=self._path)

    async def close(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        if self._orphaned():
            # The parent cannot remove the directory: the last worker's rmdir does (each unlinks
            # its own socket first, so whichever comes last finds it empty).
            with contextlib.suppress(OSError):
                self._directory.rmdir()

    async def others(self) -> list[bytes]:
        """The families of every other worker that answered in time."""
        answers = await asyncio.gather(*(self._ask(path) for path in self._others))
        return [answer for answer in answers if answer is not None]

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(self._figures())
            await writer.drain()
        finally:
            writer.close()

    async def _ask(self, path: Path) -> bytes | None:
        async def read() -> bytes:
            reader, writer = await asyncio.open_unix_connection(path)
            try:
                return await reader.read()
            finally:
                writer.close()

        try:
            return await asyncio.wait_for(read(), ASK_SECONDS)
        except (OSError, TimeoutError) as exc:
            _log.warning("/metrics: worker %s did not answer (%s); its figures are left out", path.stem, exc)
            return None
