"""Work that must not delay a request: jobs that give the CPU to the event loop's thread first.

Storing a batch of log records takes tens of milliseconds of CPU every flush (turning the lines
into rows, SQLite indexing them: `storage/sqlite_writer.py`, which has a connection of its own for
it). Where the gateway shares a core with it (a one-core container, a pinned process), a request
that arrives meanwhile waits for the scheduler to take the core back from the writer, up to a time
slice at each of its wake-ups: the one-connection p99 went from 1.0 ms without the flush to 4–5 ms
with it (`docs/benchmarks.md`). On a `SCHED_IDLE` thread (Linux) the writer gets the core only
when no request wants it.

An idle-class thread can starve on a core that never idles, and an unprivileged thread cannot
leave that class again (RLIMIT_NICE), so `Background` keeps two worker threads: the idle one, and
a normal one that takes the next job after one that waited for the CPU much longer than it used
it. Under saturation the jobs so alternate and still keep up. Jobs run one at a time, in the order
asked (a job may use a connection the next one uses too). Elsewhere than Linux both threads are
normal ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# A job is starved when it took this much longer than its CPU time, and at least STARVED_SECONDS.
STARVED_RATIO = 4.0
STARVED_SECONDS = 0.25


def _become_idle() -> None:
    """Make the calling thread idle-class (0: the calling thread), where the system allows it."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        # A seccomp profile may refuse it: the thread then runs as any thread does.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _timed(job: Callable[[], T]) -> tuple[T, float, float]:
    """`job`'s result, the seconds it waited (for the CPU, or for a disk) and the CPU it used."""
    started, cpu = time.perf_counter(), time.thread_time()
    result = job()
    used = time.thread_time() - cpu
    return result, time.perf_counter() - started - used, used


class Background:
    def __init__(self, name: str, starved_seconds: float = STARVED_SECONDS) -> None:
        self._idle = ThreadPoolExecutor(1, f"{name}-idle", initializer=_become_idle)
        self._normal = ThreadPoolExecutor(1, name)
        self._starved_seconds = starved_seconds
        self._normal_next = False
        self._one_at_a_time = asyncio.Lock()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on a worker thread, behind requests."""
        async with self._one_at_a_time:
            idle = not self._normal_next
            executor = self._idle if idle else self._normal
            job = functools.partial(function, *args)
            result, waited, used = await asyncio.get_running_loop().run_in_executor(executor, _timed, job)
            self._normal_next = idle and waited > self._starved_seconds and waited > STARVED_RATIO * used
            return result

    def shutdown(self, wait: bool = True) -> None:
        self._idle.shutdown(wait=wait)
        self._normal.shutdown(wait=wait)
