"""`sluicegate serve` on a data directory whose log spool, charge journal or counters file cannot be
made or written (a gateway once run as root, then as its service user) does not start: one
`error:` line names the path, what it is and what to do, exit 2, as an unusable database does.
It was a 240-line traceback, `Unclosed client session` errors and exit 1.

Run as root (a container, CI) a file's mode stops nothing, so most cases put what the gateway does
not make where it makes something: a file where a directory goes, a directory or a link to nowhere
where a file goes. The case of a directory owned by another user runs as any other user."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_serve_startup import assert_one_line_error, serve
from tests.ports import free_port


def a_file(path: Path) -> None:
    path.write_text("")


def a_directory(path: Path) -> None:
    path.mkdir()


def a_link_to_nowhere(path: Path) -> None:
    path.symlink_to(path.parent / "gone" / path.name)


MOVE = "move it away and start again"
CASES = {
    "spool is a file": ("spool", a_file, "(the log spool) cannot be used: not a directory (", MOVE),
    "spool is a link to nowhere": (
        "spool", a_link_to_nowhere, "(the log spool) cannot be used: no such file or directory (", MOVE,
    ),
    "counters-journal is a file": (
        "counters-journal", a_file, "(the charge journal) cannot be used: not a directory (", MOVE,
    ),
    "counters.db is a directory": (
        "counters.db", a_directory, "(the rate-limit counters file) cannot be used: is a directory:", MOVE,
    ),
    "counters.db is a link to nowhere": (
        "counters.db", a_link_to_nowhere,
        "(the rate-limit counters file) cannot be used: no such file or directory:", MOVE,
    ),
}  # fmt: skip


def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    return data


@pytest.mark.parametrize("case", list(CASES))
def test_a_part_of_the_data_directory_the_gateway_cannot_use(tmp_path: Path, case: str) -> None:
    name, make, said, advice = CASES[case]
    part = data_dir(tmp_path) / name
    make(part)
    started = serve(tmp_path, free_port(), 1)
    assert_one_line_error(started, f"error: SLUICEGATE_DATA: data directory {part.parent}: {part} {said}")
    assert started.stderr.rstrip().endswith(advice), started.stderr
    assert "Unclosed" not in started.stderr, started.stderr


def test_workers_say_it_once(tmp_path: Path) -> None:
    """The parent opens only the database; each worker meets the spool, and one line is printed."""
    part = data_dir(tmp_path) / "spool"
    a_file(part)
    started = serve(tmp_path, free_port(), 2)
    assert_one_line_error(
        started,
        f"error: SLUICEGATE_DATA: data directory {part.parent}: {part} (the log spool) cannot be used",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any directory")
@pytest.mark.parametrize("name", ["spool", "counters-journal"])
def test_a_directory_the_gateway_s_user_cannot_write(tmp_path: Path, name: str) -> None:
    part = data_dir(tmp_path) / name
    part.mkdir(mode=0o500)  # as another user's would be to this one
    restore: Callable[[], None] = lambda: part.chmod(0o700)  # noqa: E731  (so tmp_path can be removed)
    try:
        started = serve(tmp_path, free_port(), 1)
    finally:
        restore()
    assert_one_line_error(started, f"error: SLUICEGATE_DATA: data directory {part.parent}: {part} (")
    assert f"cannot be used: permission denied ({part}/" in started.stderr, started.stderr
    assert (
        f"must be able to write it: give it to that user (`chown -R {os.geteuid()} {part}`" in started.stderr
    )
