"""The data directory and every file in it are private to the gateway's user, whatever the umask:
directories it creates 0700, the SQLite database with its -wal and -shm, and the semantic journal
0600; files an older version left readable are tightened when the gateway opens them."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """The permission bits of `root` and of everything under it, by path relative to `root`'s parent."""
    found = {root.name: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root.parent))] = stat.S_IMODE(path.stat().st_mode)
    return found


def run_one_request(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """One request and its log record, so the SQLite WAL and shared-memory files exist."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "private?"}]}
    response = httpx.post(f"{gateway.url}/v1/local/default/openai/chat/completions", json=body)
    assert response.status_code == 200
    gateway.wait_for_logs(1)


def test_data_directory_and_files_are_private(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path, umask: int
) -> None:
    data = tmp_path / "state" / "data"
    gateway = make_gateway(data_dir=data, upstreams={"openai": fake.base_url})
    run_one_request(gateway, fake)
    found = {name: oct(mode) for name, mode in modes(tmp_path / "state").items()}
    # The log spool and the charge journal: a directory per process, its lock and segments (a segment
    # may be gone already).
    spool = {
        name: mode
        for name, mode in found.items()
        if name.startswith(("state/data/spool", "state/data/counters-journal"))
    }
    assert spool
    assert all(mode == ("0o700" if (tmp_path / name).is_dir() else "0o600") for name, mode in spool.items())
    assert {name: mode for name, mode in found.items() if name not in spool} == {
        "state": "0o700",
        "state/data": "0o700",
        "state/data/sluicegate.db": "0o600",
        "state/data/sluicegate.db-wal": "0o600",
        "state/data/sluicegate.db-shm": "0o600",
        "state/data/semantic.vectors": "0o600",
        "state/data/semantic.vectors.lock": "0o600",
        "state/data/counters.db": "0o600",
        "state/data/counters.db-wal": "0o600",
        "state/data/counters.db-shm": "0o600",
    }


def test_files_left_readable_by_an_older_version_are_tightened(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path, umask: int
) -> None:
    data = tmp_path / "data"
    first = make_gateway(data_dir=data, upstreams={"openai": fake.base_url})
    run_one_request(first, fake)
    first.server.stop()
    left = sorted(path.name for path in data.iterdir())
    assert {"sluicegate.db", "semantic.vectors"} <= set(left)
    for path in data.iterdir():
        path.chmod(0o644)
    second = make_gateway(data_dir=data, upstreams={"openai": fake.base_url})
    run_one_request(second, fake)
    found = {name: oct(mode) for name, mode in modes(data).items() if name != "data"}
    assert set(found) >= {f"data/{name}" for name in left}
    files = {name: mode for name, mode in found.items() if not (tmp_path / name).is_dir()}
    directories = {name: mode for name, mode in found.items() if name not in files}
    assert set(files.values()) == {"0o600"}, files
    assert set(directories) >= {"data/spool"}
    assert set(directories.values()) == {"0o700"}, directories
