"""Work that must not delay a request: threads that give the CPU to the event loop's first.

Storing a batch of log records takes tens of milliseconds of CPU every flush (SQLite parsing and
indexing the lines: `storage/sqlite_writer.py`, which has a connection of its own for it).
Where the gateway shares a core with it (a one-core container, a pinned process), a request that
arrives meanwhile waits for the scheduler to take the core back from the writer, up to a time slice
at each of its wake-ups: the one-connection p99 went from 1.0 ms without the flush to 4–5 ms with
it (`docs/benchmarks.md`). Run as `SCHED_IDLE` (Linux), the writer gets the core only when no
request wants it.

An idle-class thread can starve on a core that never idles. `Background` measures each job: one
that waited for the CPU much longer than it used it makes the next job run at normal priority,
so under saturation the writes alternate and still keep up. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A job is starved when it took this much longer than its CPU time, and at least STARVED_SECONDS.
STARVED_RATIO = 4.0
STARVED_SECONDS = 0.25
_SUPPORTED = hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")


def _policy(idle: bool) -> None:
    if _SUPPORTED:
        try:
            policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
            os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: the calling thread
        except OSError:  # a seccomp profile may refuse it: run as any thread does
            pass


class Background:
    """Runs jobs on the calling worker thread at idle priority, unless the last one starved.

    One instance per worker thread (its state is that thread's): `run` is called on the thread.
    """

    def __init__(self, starved_seconds: float = STARVED_SECONDS) -> None:
        self._starved_seconds = starved_seconds
        self._normal_next = False

    def run(self, job: Callable[[], T]) -> T:
        idle = not self._normal_next
        if idle:
            _policy(idle=True)
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return job()
        finally:
            if idle:
                _policy(idle=False)  # the thread's other jobs (reads a request waits for) are not
            used = time.thread_time() - cpu
            waited = time.perf_counter() - started - used
            self._normal_next = idle and waited > self._starved_seconds and waited > STARVED_RATIO * used
