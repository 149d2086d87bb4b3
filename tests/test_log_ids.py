"""Log ids from the forked workers of `serve --workers N` (workers.py) do not repeat each other's."""

from __future__ import annotations

import os

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
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        childs = os.read(read, 64).decode()
    finally:
        os.close(read)
    assert len(childs) == 20
    assert childs != random_part(new_log_id())  # the same generator state drew the same bits
