"""Background jobs yield the CPU to the event loop's thread (an idle-class worker on Linux); a job
or step that starved sends what follows for a while to a normal worker (an unprivileged thread
cannot leave the idle class, so the worker is not switched back); jobs run one at a time, in
order; a job in steps may change workers between steps."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Generator

import pytest

from sluicegate.background import Background, Contention

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")


def policy() -> int:
    return os.sched_getscheduler(0)


def work(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_a_job_runs_on_an_idle_class_thread() -> None:
    background = Background("test", contention=Contention())
    try:
        assert await background.run(policy) == os.SCHED_IDLE
        assert await background.run(policy) == os.SCHED_IDLE
        assert policy() == os.SCHED_OTHER  # the caller's thread is untouched
    finally:
        background.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_after_a_job_that_waited_much_longer_than_it_worked_the_next_run_at_normal_priority() -> None:
    clock = Clock()
    background = Background("test", starved_seconds=0.01, contention=Contention(2.0, clock))
    try:
        await background.run(time.sleep, 0.05)  # 50 ms waiting, next to no CPU: as if starved
        assert await background.run(policy) == os.SCHED_OTHER
        clock.now += 1.9
        assert await background.run(policy) == os.SCHED_OTHER  # the core may still be busy
        clock.now += 0.2
        assert await background.run(policy) == os.SCHED_IDLE  # tried again behind requests
    finally:
        background.shutdown()


async def test_a_job_that_worked_is_not_taken_for_starved() -> None:
    background = Background("test", starved_seconds=0.01, contention=Contention())
    try:
        await background.run(work, 0.05)
        assert await background.run(policy) == os.SCHED_IDLE
    finally:
        background.shutdown()


async def test_jobs_run_one_at_a_time_in_the_order_asked() -> None:
    # The first job starves (it waits), so the third is for the normal thread while the second
    # still runs on the idle one: they must not overlap, nor the third go first.
    background = Background("test", starved_seconds=0.01, contention=Contention())
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


def stepped(policies: list[int], waits: list[float], result: str) -> Generator[None, None, str]:
    """A job in steps that notes each step's scheduling policy; a step with a wait sleeps (waiting,
    not working: as a starved step does)."""
    for wait in waits:
        policies.append(policy())
        if wait:
            time.sleep(wait)
        yield
    return result


async def test_a_stepped_job_returns_its_value_after_running_its_steps_in_order() -> None:
    background = Background("test", contention=Contention())
    try:
        policies: list[int] = []
        assert await background.run_steps(stepped(policies, [0, 0, 0], "done")) == "done"
        assert policies == [os.SCHED_IDLE] * 3
    finally:
        background.shutdown()


async def test_after_a_starved_step_the_rest_of_the_job_runs_at_normal_priority() -> None:
    background = Background("test", starved_seconds=0.01, contention=Contention())
    try:
        policies: list[int] = []
        await background.run_steps(stepped(policies, [0.05, 0, 0], "done"))
        assert policies == [os.SCHED_IDLE, os.SCHED_OTHER, os.SCHED_OTHER]
    finally:
        background.shutdown()


async def test_a_job_that_waits_on_the_normal_thread_keeps_the_core_marked_busy() -> None:
    clock = Clock()
    background = Background("test", starved_seconds=0.01, contention=Contention(2.0, clock))
    try:
        await background.run(time.sleep, 0.05)  # starved
        clock.now += 1.5
        await background.run(time.sleep, 0.05)  # on the normal thread, and waiting as long
        clock.now += 1.5
        assert await background.run(policy) == os.SCHED_OTHER  # 3 s after the first, 1.5 after this
    finally:
        background.shutdown()


async def test_a_stepped_job_that_raises_has_cleaned_up_and_the_error_reaches_the_caller() -> None:
    cleaned: list[str] = []

    def failing() -> Generator[None, None, str]:
        try:
            yield
            raise ValueError("a bad line")
        finally:
            cleaned.append(threading.current_thread().name)

    background = Background("test", contention=Contention())
    try:
        with pytest.raises(ValueError, match="a bad line"):
            await background.run_steps(failing())
        assert len(cleaned) == 1
        assert cleaned[0].startswith("test-idle")
    finally:
        background.shutdown()


async def test_a_caller_cancelled_mid_step_has_the_job_closed_after_that_step_on_its_thread() -> None:
    started, release = threading.Event(), threading.Event()
    events: list[str] = []

    def slow() -> Generator[None, None, str]:
        try:
            started.set()
            release.wait(5)
            events.append("first step done")
            yield
            events.append("second step")  # never: the job is closed after the first
        finally:
            events.append(f"closed on {threading.current_thread().name.split('_')[0]}")
        return "unreachable"

    background = Background("test", contention=Contention())
    loop = asyncio.get_running_loop()
    try:
        job = asyncio.ensure_future(background.run_steps(slow()))
        await loop.run_in_executor(None, started.wait, 5)
        job.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert events == ["first step done", "closed on test-idle"]
    finally:
        release.set()
        background.shutdown()


async def test_the_workers_of_a_process_share_what_they_found_of_the_core() -> None:
    # The log's jobs are one chain over two workers (read, store, cut): a stuck probe on either
    # holds the chain up, so one starved job sends both to their normal threads.
    shared = Contention()
    reader = Background("reader", starved_seconds=0.01, contention=shared)
    writer = Background("writer", starved_seconds=0.01, contention=shared)
    try:
        await reader.run(time.sleep, 0.05)
        assert await writer.run(policy) == os.SCHED_OTHER
    finally:
        reader.shutdown()
        writer.shutdown()


async def test_on_a_busy_core_the_rest_of_a_stepped_job_goes_in_one_hand_off() -> None:
    background = Background("test", starved_seconds=0.01, contention=Contention())
    threads: list[str] = []

    def noting() -> Generator[None, None, int]:
        for _ in range(4):
            threads.append(threading.current_thread().name)
            yield
        return len(threads)

    try:
        await background.run(time.sleep, 0.05)  # starved: the core is busy
        hand_offs = 0
        original = background._step

        async def counted(job: Callable[[], object], idle: bool) -> object:
            nonlocal hand_offs
            hand_offs += 1
            return await original(job, idle)

        background._step = counted  # type: ignore[method-assign]
        assert await background.run_steps(noting()) == 4
        assert hand_offs == 1
        assert all(not name.startswith("test-idle") for name in threads)
    finally:
        background.shutdown()


async def test_a_job_after_a_cancelled_one_waits_for_it_even_on_the_other_worker() -> None:
    # A caller that stopped waiting leaves its job running; the next job must not overlap it,
    # though the core was marked busy meanwhile and the next job goes to the normal thread.
    contention = Contention()
    background = Background("test", contention=contention)
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        started.set()
        release.wait(5)
        order.append("first done")

    loop = asyncio.get_running_loop()
    try:
        abandoned = asyncio.ensure_future(background.run(first))
        await loop.run_in_executor(None, started.wait, 5)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        contention.starved()  # the next job is for the normal thread
        second = asyncio.ensure_future(background.run(order.append, "second"))
        await asyncio.sleep(0.05)  # give an overlapping job the time to run (it must not)
        assert order == []
        release.set()
        await second
        assert order == ["first done", "second"]
    finally:
        release.set()
        background.shutdown()


async def test_a_busy_core_sends_jobs_to_the_normal_thread_only_while_the_owner_is_behind() -> None:
    # A burst: the core is busy but little waits, so requests keep the whole core.
    contention = Contention()
    behind = False
    contention.watch(lambda: behind)
    background = Background("test", starved_seconds=0.01, contention=contention)
    try:
        await background.run(time.sleep, 0.05)  # starved
        assert await background.run(policy) == os.SCHED_IDLE
        behind = True
        assert await background.run(policy) == os.SCHED_OTHER
    finally:
        background.shutdown()
