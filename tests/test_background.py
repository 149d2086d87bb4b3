"""Background jobs yield the CPU to the event loop's thread (SCHED_IDLE on Linux), and a job that
starved makes the next one run at normal priority."""

from __future__ import annotations

import os
import sys
import time

import pytest

from sluicegate.background import Background

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")


def policy() -> int:
    return os.sched_getscheduler(0)


def test_a_job_runs_at_idle_priority_and_the_thread_gets_its_own_back() -> None:
    background = Background()
    assert background.run(policy) == os.SCHED_IDLE
    assert policy() == os.SCHED_OTHER


def test_a_job_that_waited_much_longer_than_it_worked_makes_the_next_run_at_normal_priority() -> None:
    background = Background(starved_seconds=0.01)
    background.run(lambda: time.sleep(0.05))  # 50 ms waiting, next to no CPU: as if starved
    assert background.run(policy) == os.SCHED_OTHER
    assert background.run(policy) == os.SCHED_IDLE  # and the one after is idle again


def test_a_job_that_worked_is_not_taken_for_starved() -> None:
    background = Background(starved_seconds=0.01)

    def work() -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    background.run(work)
    assert background.run(policy) == os.SCHED_IDLE
