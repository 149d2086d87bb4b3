"""`sluicegate serve --workers N`: real processes over loopback, stopped as operators stop them.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group, and systemd's default
KillMode (control-group) sends SIGTERM to every process of the service: each worker gets the
signal itself and once more from its parent, which passes a signal on to its workers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_shutdown import (
    EXIT_TIMEOUT,
    START_TIMEOUT,
    USER,
    ServerProcess,
    free_port,
    make_requests,
    stored_log_ids,
    stream_paused,
    wait_healthy,
    wait_refusing,
)

WORKERS = 2
STREAMS = 4
SENT = 40


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


def start_workers(tmp_path: Path, fake: FakeOpenAI, name: str = "workers", port: int = 0) -> ServerProcess:
    """`serve --workers 2` in a process group of its own (so a group signal reaches it alone)."""
    port = port or free_port()
    data_dir = tmp_path / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(data_dir),
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_LOG_FLUSH_INTERVAL": "3600",
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    output = tmp_path / f"{name}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "serve", "--port", str(port), "--workers", str(WORKERS)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServerProcess(process, f"http://127.0.0.1:{port}", data_dir, output)


def end_group(server: ServerProcess) -> None:
    """Whatever a test left running: the parent and its workers, stopped as systemd would (so the
    parent removes its directory), killed if they do not stop."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


@pytest.fixture
def workers(tmp_path: Path, fake: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_workers(tmp_path, fake)
    try:
        wait_listening(server)
        yield server
    finally:
        end_group(server)


def wait_listening(server: ServerProcess) -> None:
    """Until the parent prints its banner, once every worker listens: /healthz answers as soon as
    one does, and a signal then finds the other still starting (which ends the start-up, exit 2)."""
    deadline = time.monotonic() + START_TIMEOUT
    while "Sluicegate listening" not in server.diagnostics():
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the workers did not all start:\n{server.diagnostics()}")
        time.sleep(0.05)
    wait_healthy(server)


def worker_pids(server: ServerProcess) -> list[int]:
    """The parent's children, as Linux lists them."""
    pid = server.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # an exited worker stays a zombie until its parent waits for it


def wait_ignored(server: ServerProcess, pids: list[int], sig: signal.Signals, timeout: float = 10.0) -> bool:
    """Poll until a worker has said it ignored a repeated `sig` and every other has said so too or
    exited (a worker without answers in flight may be done before the second signal)."""
    return wait_said(server, pids, rf"{sig.name} ignored \(process (\d+)\)", timeout)


def wait_said(server: ServerProcess, pids: list[int], pattern: str, timeout: float = 10.0) -> bool:
    """Poll until a worker has logged `pattern` (its group: the pid) and every other has too or exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        said = {int(pid) for pid in re.findall(pattern, server.diagnostics())}
        if said and all(pid in said or not running(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "systemd"])
def test_a_group_stop_lets_every_worker_finish_its_answers(
    workers: ServerProcess, fake: FakeOpenAI, sig: signal.Signals
) -> None:
    first = make_requests(workers, 6)
    pids = worker_pids(workers)
    assert len(pids) == WORKERS
    results: list[dict[str, Any]] = [{} for _ in range(STREAMS)]
    readers = [stream_paused(workers, f"held-{n}", result) for n, result in enumerate(results)]
    try:
        for n in range(STREAMS):
            assert fake.pause(f"held-{n}").chunk_sent.wait(10), f"stream {n} never started"
        os.killpg(workers.process.pid, sig)
        assert wait_refusing(workers), "the workers kept accepting connections after the signal"
        # Every worker has taken the first signal (else a second one sent while the first is still
        # pending merges with it: one delivery, never 'ignored'), then the signal again.
        stopping = rf"{sig.name}: stopping \(process (\d+)\)"
        assert wait_said(workers, pids, stopping), (results, workers.diagnostics())
        os.killpg(workers.process.pid, sig)
        assert wait_ignored(workers, pids, sig), (results, workers.diagnostics())
        assert workers.process.poll() is None, "the workers exited with streams still in flight"
    finally:
        for n in range(STREAMS):
            fake.release(f"held-{n}")
        for reader in readers:
            reader.join(timeout=EXIT_TIMEOUT)

    assert [result.get("text") for result in results] == ["echo: hello there world"] * STREAMS, (
        results,
        workers.diagnostics(),
    )
    assert workers.process.wait(timeout=EXIT_TIMEOUT) == 0, workers.diagnostics()
    assert stored_log_ids(workers.data_dir) == sorted([*first, *(result["id"] for result in results)])
    assert "Traceback" not in workers.diagnostics()


def test_a_second_server_on_the_port_exits_naming_the_address(
    workers: ServerProcess, tmp_path: Path, fake: FakeOpenAI
) -> None:
    """The workers bound the port with SO_REUSEPORT each, so a second `serve --workers 2` on it (its
    own database, its own tokens) started and silently took about half the connections."""
    port = urlsplit(workers.url).port
    assert port is not None
    second = start_workers(tmp_path, fake, name="second", port=port)
    try:
        code = second.process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None  # it serves: what the assertion below reports
    finally:
        end_group(second)
    assert code == 2, second.diagnostics()
    assert second.diagnostics().strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: address already in use (another server listens there)"
    )
    assert len(make_requests(workers, 4)) == 4  # the first one serves on


def requests_counted(server: ServerProcess) -> float:
    """sluicegate_requests_total over every label set, from one scrape on a new connection."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sluicegate_requests_total"
    )


def test_metrics_count_the_requests_of_every_worker(workers: ServerProcess) -> None:
    """Each scrape (a new connection, as Prometheus makes) may reach another worker: every one must
    report the whole group, or the counter drops and Prometheus reads a restart."""
    body = {"model": "gpt-4o-mini", "messages": USER}
    url = f"{workers.url}/v1/local/default/openai/chat/completions"

    def send(_: int) -> int:
        return httpx.post(url, json=body, headers={"Authorization": "Bearer sk-test"}, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:  # on new connections, several at once: every worker takes some
        assert list(pool.map(send, range(SENT))) == [200] * SENT
    # Metrics follow the log's batches: wait for the count to reach what was sent.
    deadline = time.monotonic() + 10
    while (counted := requests_counted(workers)) < SENT and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted == SENT
    assert [requests_counted(workers) for _ in range(12)] == [SENT] * 12
    reporting = httpx.get(f"{workers.url}/metrics", timeout=10).text
    assert f"sluicegate_workers {float(WORKERS)}" in reporting
    assert f"sluicegate_workers_reporting {float(WORKERS)}" in reporting
