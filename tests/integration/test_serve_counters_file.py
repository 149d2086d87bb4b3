"""`sluicegate serve` on a damaged rate-limit counters file (`counters.db`) does not start: one
`error:` line names the file and what to do, exit 2, no traceback (it was 252 lines). Starting
without the file would let every budget spend its whole limit again, so the gateway leaves that
choice to the operator rather than moving the file aside by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_serve_startup import assert_one_line_error, serve
from tests.ports import free_port


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "workers"])
def test_a_counters_file_that_is_not_a_database(tmp_path: Path, workers: int) -> None:
    counters = tmp_path / "data" / "counters.db"
    counters.parent.mkdir(mode=0o700)
    counters.write_bytes(b"this is not a SQLite database, but it is long enough to be read as one" * 20)
    counters.chmod(0o600)
    started = serve(tmp_path, free_port(), workers)
    assert_one_line_error(
        started,
        f"error: the rate-limit counters file {counters} is damaged (file is not a database): move it"
        " away and start again; the rate-limit and budget counts it held are then lost",
    )
    assert counters.read_bytes().startswith(b"this is not a SQLite database")  # left as it was
