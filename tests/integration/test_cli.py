"""The command line as a user runs it: real subprocesses on a data directory shared with a running gateway."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

API = "/api/v1/accounts/local/gateways"
LOG_ID = "cf-aig-log-id"
LOG_ID_RE = re.compile(r"\b[0-9a-f]{32}\b")
CLI_TIMEOUT = 30.0
USER: list[Any] = [{"role": "user", "content": "hello there world"}]


def cli_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment minus any SLUICEGATE_* setting, plus the data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")}
    return env | {"SLUICEGATE_DATA": str(data_dir)}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sluicegate", *args]


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table: its cells, stripped."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # The directory `make_settings` gives a gateway, so the CLI and a running server share one database.
    return tmp_path / "data"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, data_dir: Path) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    assert gateway.settings.data_dir == data_dir
    return gateway


def chat(gw: RunningGateway, model: str = "gpt-4o", gateway: str = "default", behavior: str = "") -> str:
    """One chat completion through `gateway`; its log id, whether it succeeded or not."""
    headers = {"x-fake-behavior": behavior} if behavior else {}
    with OpenAI(base_url=gw.provider_url("openai", gateway), api_key="sk-test", max_retries=0) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=USER, extra_headers=headers
            )
        except openai.APIStatusError as error:
            return error.response.headers[LOG_ID]
        return raw.headers[LOG_ID]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def test_gateway_create_list_delete(gw: RunningGateway, data_dir: Path) -> None:
    created = run_cli(data_dir, "gateway", "create", "My Team")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "my-team" in created.stdout
    duplicate = run_cli(data_dir, "gateway", "create", "my team")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stdout + duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    listed = run_cli(data_dir, "gateway", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [row[:2] for row in table_rows(listed.stdout)] == [["default", "default"], ["my-team", "My Team"]]

    # The running server shares the database: it lists the new gateway and proxies through it.
    assert [g["slug"] for g in gw.http.get(API).json()["result"]] == ["default", "my-team"]
    log_id = chat(gw, gateway="my-team")
    assert [r["id"] for r in gw.wait_for_logs(1, "my-team")] == [log_id]

    deleted = run_cli(data_dir, "gateway", "delete", "my-team")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "deleted" in deleted.stdout
    assert gw.http.get(f"{API}/my-team").status_code == 404
    # The server caches gateways for a second, so the proxy stops answering within about that.
    assert wait_until(lambda: gw.http.post("/v1/local/my-team/openai/chat/completions").status_code == 404)

    again = run_cli(data_dir, "gateway", "delete", "my-team")
    assert again.returncode == 1
    assert "no gateway 'my-team'" in again.stdout + again.stderr


def test_logs_prints_the_newest_matching_records_oldest_first(gw: RunningGateway, data_dir: Path) -> None:
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201
    # A model name is whatever a client sends; one that looks like console markup prints as sent.
    odd_model = "[bold]x[/bold][/oops]"
    errors = [
        chat(gw, "error-500"),
        chat(gw),
        chat(gw, "error-503"),
        chat(gw, odd_model, behavior="error-500"),
    ]
    chat(gw, "error-500", gateway="other")
    chat(gw)
    assert len(gw.wait_for_logs(5)) == 5
    assert len(gw.wait_for_logs(1, "other")) == 1

    shown = run_cli(data_dir, "logs", "--limit", "2", "--status", "5xx", "--gateway", "default")

    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    # One record per line (so the output greps), newest last.
    assert [LOG_ID_RE.findall(line) for line in lines] == [[errors[2]], [errors[3]]], shown.stdout
    assert " default openai POST chat/completions error-503 503 " in lines[0]
    assert f" default openai POST chat/completions {odd_model} 500 " in lines[1]


def test_logs_rejects_a_bad_status(data_dir: Path) -> None:
    shown = run_cli(data_dir, "logs", "--status", "5x")

    assert shown.returncode == 2
    assert "status must be" in shown.stdout + shown.stderr


class LineReader:
    """Reads a pipe line by line on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, pipe: object) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout}s; saw {self.seen!r}") from None
            self.seen.append(line)
            if text in line:
                return line


def test_logs_follow_prints_records_as_they_arrive(gw: RunningGateway, data_dir: Path) -> None:
    before = chat(gw)
    gw.wait_for_logs(1)
    follow = subprocess.Popen(
        cli_command("logs", "--follow", "--gateway", "default"),
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        reader = LineReader(follow.stdout)
        reader.wait_for(before)  # the records already there come first: it has started

        after = chat(gw, "gpt-4o-mini")
        line = reader.wait_for(after)

        assert " gpt-4o-mini 200 " in line
        assert sum(before in seen for seen in reader.seen) == 1
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=CLI_TIMEOUT) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
        for pipe in (follow.stdout, follow.stderr):
            if pipe is not None:
                pipe.close()
