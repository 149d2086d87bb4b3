"""`sluicegate serve --workers N` keeps its workers: real processes over loopback, killed as the
kernel's OOM killer, an operator's `kill -9` or systemd's final SIGKILL kill them.

A worker that dies is replaced on the same socket (a place that keeps dying at start is tried
again later while another worker serves, and stops the group once none does); workers whose
parent was killed stop on their own; the /metrics directory of a killed group does not stay in the
temporary directory. Each group runs with a temporary directory of its own (short: it holds Unix
sockets, whose paths are limited to 107 bytes), so what is left in it is this test's alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from sluicegate import metrics_group
from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_shutdown import EXIT_TIMEOUT, ServerProcess, make_requests
from tests.integration.test_workers import requests_counted, running, wait_listening, worker_pids
from tests.ports import free_port

WAIT_SECONDS = 30.0  # for an event expected within a second or two; the bound of a loaded CI machine


@pytest.fixture
def temporary() -> Iterator[Path]:
    """TMPDIR for the gateways a test starts (where their /metrics directory goes)."""
    directory = Path(tempfile.mkdtemp(prefix="sg-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def launch(tmp_path: Path, fake: FakeOpenAI, temporary: Path, name: str, **env: str) -> ServerProcess:
    """`serve --workers 2` in a process group of its own, with `env` and TMPDIR=`temporary`;
    returned as soon as it runs (`groups` waits for it to listen)."""
    port = free_port()
    data_dir = tmp_path / name
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(data_dir),
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_LOG_FLUSH_INTERVAL": "3600",
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "TMPDIR": str(temporary),
        **env,
    }
    output = tmp_path / f"{name}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "serve", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServerProcess(process, f"http://127.0.0.1:{port}", data_dir, output)


def kill_group(server: ServerProcess) -> None:
    """Every process of the group, its parent gone or not (a worker left by the old code)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()


@contextlib.contextmanager
def groups(
    tmp_path: Path, fake: FakeOpenAI, temporary: Path, *names: str, **env: str
) -> Iterator[list[ServerProcess]]:
    """Groups started at once (so their start-ups overlap), once every one listens; killed after."""
    servers: list[ServerProcess] = []
    try:
        servers.extend(launch(tmp_path, fake, temporary, name, **env) for name in names)
        for server in servers:
            wait_listening(server)
        yield servers
    finally:
        for server in servers:
            kill_group(server)


@contextlib.contextmanager
def group(
    tmp_path: Path, fake: FakeOpenAI, temporary: Path, name: str, **env: str
) -> Iterator[ServerProcess]:
    with groups(tmp_path, fake, temporary, name, **env) as (server,):
        yield server


def wait_until(what: str, condition: Callable[[], object], server: ServerProcess) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}\n{server.diagnostics()}")
        time.sleep(0.02)


def logged(server: ServerProcess, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, server.diagnostics(), re.MULTILINE)


def stopped(pid: int) -> bool:
    """SIGSTOP has taken effect (state T)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def group_directory(server: ServerProcess) -> Path:
    """The directory the workers meet in for /metrics: the parent holds it open (its lock)."""
    held = [Path(os.readlink(fd)) for fd in Path(f"/proc/{server.process.pid}/fd").iterdir()]
    return next(path for path in held if path.name.startswith(metrics_group.GROUP_PREFIX))


def test_a_killed_worker_is_replaced_and_the_replacement_serves(
    tmp_path: Path, fake: FakeOpenAI, temporary: Path
) -> None:
    """The group went on with one worker: a crash or an OOM kill halved it for good, silently."""
    with group(tmp_path, fake, temporary, "replaced") as server:
        victim, survivor = worker_pids(server)
        os.kill(victim, signal.SIGKILL)
        death = rf"worker (\d) \(pid {victim}\) was killed by SIGKILL; replaced by pid (\d+)$"
        wait_until("the death logged", lambda: logged(server, death), server)
        found = logged(server, death)
        assert found is not None
        replacement = int(found.group(2))
        assert sorted(worker_pids(server)) == sorted([survivor, replacement])
        wait_until(
            "the replacement listening", lambda: logged(server, rf"\(pid {replacement}\) listening$"), server
        )

        # With the surviving worker frozen, only the replacement can take a new connection.
        os.kill(survivor, signal.SIGSTOP)
        try:
            wait_until("the survivor stopped", lambda: stopped(survivor), server)
            assert len(make_requests(server, 3)) == 3
        finally:
            os.kill(survivor, signal.SIGCONT)

        # /metrics sums both again, whichever answers: the replacement's 3 requests are counted.
        wait_until("the replacement's requests counted", lambda: requests_counted(server) == 3, server)
        assert [requests_counted(server) for _ in range(8)] == [3] * 8
        scrape = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert "sluicegate_workers_reporting 2.0" in scrape

        # A graceful stop replaces nobody: the group exits 0.
        os.killpg(server.process.pid, signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
        assert server.diagnostics().count("replaced by pid") == 1, server.diagnostics()
        assert "Traceback" not in server.diagnostics()
        assert list(temporary.iterdir()) == []


def test_a_worker_that_keeps_dying_at_start_is_tried_again_while_another_serves(
    tmp_path: Path, fake: FakeOpenAI, temporary: Path
) -> None:
    """A worker that cannot start (its config file broken since it was replaced; a database it
    cannot reach while down) does not take the group down while another worker serves: after 5
    quick deaths its place is tried again after 1, 2, 4 ... s, and comes back once the cause is
    gone. With no worker left serving, the group stops, exit 1, saying why in one line."""
    config = tmp_path / "sluicegate.toml"
    config.write_text("")
    with group(tmp_path, fake, temporary, "crash-loop", SLUICEGATE_CONFIG=str(config)) as server:
        config.write_text("not [toml")  # every worker started from now on exits 2 at once
        os.kill(worker_pids(server)[0], signal.SIGKILL)
        looping = r"died 5 times in a row within 10 s of starting \(pid \d+ exited with code 2\); the others"
        wait_until("the place tried again later", lambda: logged(server, looping), server)
        assert server.process.poll() is None, server.diagnostics()  # the old code stopped the group
        assert len(make_requests(server, 3)) == 3  # the survivor serves meanwhile

        config.write_text("")  # the cause is gone: the next try comes back
        wait_until(
            "the place back",
            lambda: len(re.findall(r"\) listening$", server.diagnostics(), re.M)) >= 1,
            server,
        )
        assert logged(server, r"^.*worker \d tried again: pid \d+$"), server.diagnostics()

        config.write_text("not [toml")  # and with no worker left serving, the group stops
        for pid in worker_pids(server):
            os.kill(pid, signal.SIGKILL)
        assert server.process.wait(timeout=WAIT_SECONDS + EXIT_TIMEOUT) == 1, server.diagnostics()
        stopping = r"^error: worker \d died \d+ times in a row within 10 s of starting \(.+\); stopping the"
        assert logged(server, stopping), server.diagnostics()
        assert "Traceback" not in server.diagnostics()


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path, fake: FakeOpenAI, temporary: Path) -> None:
    """They served on as orphans, and their /metrics directory stayed in the temporary directory.
    A replacement (started while its sibling's pipe was open) is one of them."""
    with group(tmp_path, fake, temporary, "orphans") as server:
        victim, _ = worker_pids(server)
        os.kill(victim, signal.SIGKILL)
        death = rf"\(pid {victim}\) was killed by SIGKILL; replaced by pid (\d+)$"
        wait_until("the replacement listening", lambda: logged(server, r"\(pid \d+\) listening$"), server)
        found = logged(server, death)
        assert found is not None
        pids = worker_pids(server)
        assert int(found.group(1)) in pids
        directory = group_directory(server)
        assert directory.parent == temporary
        assert directory.is_dir()
        server.process.kill()
        server.process.wait()
        wait_until("the workers exited", lambda: not any(running(pid) for pid in pids), server)
        for pid in pids:
            assert logged(server, rf"the parent process has exited: stopping \(process {pid}\)$")
        assert not directory.exists(), list(directory.iterdir())
        assert "Traceback" not in server.diagnostics()


def test_the_next_start_removes_the_directory_a_group_killed_whole_left(
    tmp_path: Path, fake: FakeOpenAI, temporary: Path
) -> None:
    """A group killed whole (systemd's SIGKILL after TimeoutStopSec) removes nothing: the next
    `serve --workers N` removes its directory, not the directory of a group still running."""
    with groups(tmp_path, fake, temporary, "killed", "running") as (killed, still_running):
        pids = worker_pids(killed)
        left = group_directory(killed)
        os.killpg(killed.process.pid, signal.SIGKILL)
        killed.process.wait()
        wait_until("the workers killed", lambda: not any(running(pid) for pid in pids), killed)
        assert left.is_dir()
        kept = group_directory(still_running)
        with group(tmp_path, fake, temporary, "next") as following:
            assert not left.exists()
            assert sorted(temporary.iterdir()) == sorted([kept, group_directory(following)])
