"""Work that must not delay a request: jobs that give the CPU to the event loop's thread first.

Storing a batch of log records takes tens of milliseconds of CPU every flush (turning the lines
into rows, SQLite indexing them: `storage/sqlite_writer.py`, which has a connection of its own for
it). Where the gateway shares a core with it (a one-core container, a pinned process), a request
that arrives meanwhile waits for the scheduler to take the core back from the writer, up to a time
slice at each of its wake-ups: the one-connection p99 went from 1.0 ms without the flush to 4–5 ms
with it (`docs/benchmarks.md`). On a `SCHED_IDLE` thread (Linux) the writer gets the core only
when no request wants it.

An idle-class thread starves on a core that never idles, and an unprivileged thread cannot leave
that class again (RLIMIT_NICE), so `Background` keeps two worker threads: the idle one, and a
normal one. A job (or a step of one: `run_steps`) that waited for the CPU much longer than it used
it marks the core busy (`Contention`, one for the process): while its owner also says too much
work waits (`Contention.watch`: the logbook, past ten batches of records), the jobs and steps of
the next `CONTENDED_SECONDS` run on normal threads, sharing the core fairly with the event loop;
then one tries the idle thread again. A burst shorter than that leaves the core to its requests
and the log catches up after it; under sustained saturation the log keeps up, a few seconds behind,
instead of waiting on disk for the load to end (it had: 1,550 of 39,000 records stored after 35 s
at full load). The most one stuck step costs is its CPU at an idle-class share, so long jobs are
written as steps. Jobs run one at a time, in the order asked (a job may use a connection the next
one uses too). Elsewhere than Linux both threads are normal ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# A job is starved when it took this much longer than its CPU time, and at least STARVED_SECONDS.
STARVED_RATIO = 4.0
STARVED_SECONDS = 0.25
# After a starved job, jobs run on the normal thread for this long, then one tries the idle thread
# again (and, should the core still be busy, waits there about its CPU time over an idle-class
# share: 1-2 s for a millisecond's step). A job on the normal thread cannot tell a busy core from a
# free one: the scheduler favours a thread that slept, so it rarely waits when the loop never idles.
CONTENDED_SECONDS = 5.0


class Contention:
    """Whether a job starved lately. The process's `Background`s share one (`CORE`): it is the
    CPU's state, and the log's jobs form one chain (read, store, cut), which a stuck probe on
    either worker would hold up."""

    def __init__(
        self, seconds: float = CONTENDED_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._until = 0.0
        self._behind: Callable[[], bool] = lambda: True

    def watch(self, behind: Callable[[], bool]) -> None:
        """Go to the normal threads only while `behind()` too: the work waiting is more than its
        owner lets wait (the logbook: ten batches of records), so a burst shorter than that leaves
        the whole core to its requests and its records are stored after it."""
        self._behind = behind

    def busy(self) -> bool:
        return self._clock() < self._until and self._behind()

    def starved(self) -> None:
        self._until = self._clock() + self._seconds


CORE = Contention()


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
    def __init__(
        self, name: str, starved_seconds: float = STARVED_SECONDS, contention: Contention | None = None
    ) -> None:
        self._idle = ThreadPoolExecutor(1, f"{name}-idle", initializer=_become_idle)
        self._normal = ThreadPoolExecutor(1, name)
        self._starved_seconds = starved_seconds
        self._contention = contention or CORE  # read when made: tests give each their own
        # What a worker still runs for a caller that stopped waiting (cancelled): the next job
        # waits for it, so that jobs never overlap whichever worker each is sent to.
        self._running: asyncio.Future[Any] | None = None
        self._last = self._idle  # the worker of the latest step (one thread each: steps queue there)
        self._one_at_a_time = asyncio.Lock()

    @property
    def contention(self) -> Contention:
        return self._contention

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on a worker thread, behind requests."""
        async with self._one_at_a_time:
            return await self._step(functools.partial(function, *args), idle=not self._contention.busy())

    async def run_steps(self, steps: Generator[None, None, T]) -> T:
        """One job in steps: each step of the generator (up to its next `yield`) on a worker
        thread, the next step perhaps on the other (see the module docstring); its return value.
        A caller that stops waiting (cancelled) has the generator closed after the step under way,
        on that step's thread, so its `finally` runs there."""
        async with self._one_at_a_time:
            finished = False
            try:
                while not finished:
                    # On the normal thread the rest goes in one hand-off: on a busy core each
                    # hand-off back to the event loop waits behind a whole turn of requests.
                    idle = not self._contention.busy()
                    advance = _advance if idle else _advance_all
                    finished, value = await self._step(functools.partial(advance, steps), idle)
                return value  # type: ignore[return-value]  # the generator's return value
            finally:
                if not finished:  # raised (then closing is a no-op) or cancelled mid-step
                    closing = asyncio.get_running_loop().run_in_executor(self._last, steps.close)
                    self._running = closing
                    await asyncio.shield(closing)

    async def _step(self, job: Callable[[], T], idle: bool) -> T:
        if self._running is not None and not self._running.done():
            await asyncio.wait([self._running])  # a cancelled caller's job, still running
        executor = self._last = self._idle if idle else self._normal
        running = asyncio.get_running_loop().run_in_executor(executor, _timed, job)
        self._running = running
        # Shielded: a cancelled caller leaves the future pending until the worker is done with it.
        result, waited, used = await asyncio.shield(running)
        if waited > self._starved_seconds and waited > STARVED_RATIO * used:  # the core is busy
            self._contention.starved()
        return result

    def shutdown(self, wait: bool = True) -> None:
        self._idle.shutdown(wait=wait)
        self._normal.shutdown(wait=wait)


def _advance(steps: Generator[None, None, T]) -> tuple[bool, T | None]:
    """Run `steps` to its next `yield`: (False, None), or (True, its return value) once it ends.
    (A `StopIteration` cannot travel through a future.)"""
    try:
        next(steps)
    except StopIteration as stop:
        return True, stop.value
    return False, None


def _advance_all(steps: Generator[None, None, T]) -> tuple[bool, T | None]:
    """Run `steps` to its end: (True, its return value)."""
    while True:
        finished, value = _advance(steps)
        if finished:
            return True, value
