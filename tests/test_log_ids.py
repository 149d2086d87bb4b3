"""Log ids from the forked workers of `serve --workers N` (workers.py) do not repeat each other's."""

from __future__ import annotations

import os
import select
import signal

from sluicegate.exchange import new_log_id


def random_part(log_id: str) -> str:
    return log_id[12:]  # after the 48-bit milliseconds


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then gone without running the parent's cleanup
        try:
            os.write(write, random_part(new_log_id()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        answered, _, _ = select.select([read], [], [], 30)  # bounded: never a hung test run
        childs = os.read(read, 64).decode() if answered else ""
    finally:
        os.close(read)
        if not childs:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert len(childs) == 20
    assert childs != random_part(new_log_id())  # the same generator state drew the same bits
