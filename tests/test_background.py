"""Background jobs yield the CPU to the event loop's thread (an idle-class worker on Linux); a job
that starved sends the next one to a normal worker (an unprivileged thread cannot leave the idle
class, so the worker is not switched back); jobs run one at a time, in order."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from sluicegate.background import Background

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")


def policy() -> int:
    return os.sched_getscheduler(0)


def work(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_a_job_runs_on_an_idle_class_thread() -> None:
    background = Background("test")
    try:
        assert await background.run(policy) == os.SCHED_IDLE
        assert await background.run(policy) == os.SCHED_IDLE
        assert policy() == os.SCHED_OTHER  # the caller's thread is untouched
    finally:
        background.shutdown()


async def test_after_a_job_that_waited_much_longer_than_it_worked_the_next_runs_at_normal_priority() -> None:
    background = Background("test", starved_seconds=0.01)
    try:
        await background.run(time.sleep, 0.05)  # 50 ms waiting, next to no CPU: as if starved
        assert await background.run(policy) == os.SCHED_OTHER
        assert await background.run(policy) == os.SCHED_IDLE  # and the one after is idle again
    finally:
        background.shutdown()


async def test_a_job_that_worked_is_not_taken_for_starved() -> None:
    background = Background("test", starved_seconds=0.01)
    try:
        await background.run(work, 0.05)
        assert await background.run(policy) == os.SCHED_IDLE
    finally:
        background.shutdown()


async def test_jobs_run_one_at_a_time_in_the_order_asked() -> None:
    # The first job starves (it waits), so the third is for the normal thread while the second
    # still runs on the idle one: they must not overlap, nor the third go first.
    background = Background("test", starved_seconds=0.01)
    loop = asyncio.get_running_loop()
    started = [threading.Event() for _ in range(2)]
    release = [threading.Event() for _ in range(2)]
    order: list[str] = []

    def blocked(n: int) -> None:
        order.append(f"{n} started")
        started[n].set()
        release[n].wait(5)
        time.sleep(0.02)  # waiting, not working: the starved kind of job
        order.append(f"{n} done")

    try:
        first = asyncio.ensure_future(background.run(blocked, 0))
        second = asyncio.ensure_future(background.run(blocked, 1))
        await loop.run_in_executor(None, started[0].wait, 5)
        release[0].set()
        await first
        third = asyncio.ensure_future(background.run(order.append, "third"))
        await loop.run_in_executor(None, started[1].wait, 5)
        release[1].set()
        await asyncio.gather(second, third)
        assert order == ["0 started", "0 done", "1 started", "1 done", "third"]
    finally:
        for event in release:
            event.set()
        background.shutdown()
