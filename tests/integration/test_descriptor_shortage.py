"""A gateway out of file descriptors answers 503 `gateway_overloaded`, not the upstream's 502.

The gateway runs as a process of its own with a low open-files limit (`ulimit -n`); the test fills
its descriptor table with idle client connections, so a request on a connection it accepted before
cannot open a socket to the upstream. Then the connections go, and it answers again.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_shutdown import ServerProcess, wait_healthy
from tests.ports import free_port

OPEN_FILES = 128  # the gateway's limit: it starts with about 30 open
FILLERS = OPEN_FILES + 32  # more connections than it can hold
WAIT = 10.0
USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeOpenAI) -> Iterator[ServerProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(tmp_path / "data"),
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
    }
    # The limit is set in the child before it becomes the gateway (exec keeps it): no preexec_fn,
    # which is unsafe beside the fake's server thread.
    serve = ["-m", "sluicegate", "serve", "--port", str(port)]
    launcher = (
        "import os, resource, sys; hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1];"
        f" resource.setrlimit(resource.RLIMIT_NOFILE, ({OPEN_FILES}, hard));"
        f" os.execv(sys.executable, [sys.executable, *{serve!r}])"
    )
    output = tmp_path / "gateway.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", launcher], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", tmp_path / "data", output)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.kill()
        process.wait()


def fill_descriptors(server: ServerProcess) -> list[socket.socket]:
    """Idle connections until the gateway has no descriptor left: once it is out, it accepts each
    further connection only to close it at once (libuv's reserve-descriptor trick), so the last
    one's end of file says the table is full."""
    port = int(server.url.rsplit(":", 1)[1])
    fillers = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(FILLERS)]
    readable, _, _ = select.select([fillers[-1]], [], [], WAIT)
    assert readable, "the gateway held more connections than its open-files limit allows"
    assert fillers[-1].recv(1) == b""
    return fillers


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def log_record(server: ServerProcess, http: httpx.Client, log_id: str) -> dict[str, object]:
    """The request's log record, once the gateway has stored it."""
    url = f"{server.url}/api/v1/accounts/local/gateways/default/logs/{log_id}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + WAIT
    while (answer := http.get(url, headers=admin)).status_code == 404:
        assert time.monotonic() < deadline, f"log record {log_id} never stored"
        time.sleep(0.05)
    assert answer.status_code == 200, answer.text
    record: dict[str, object] = answer.json()
    return record


def test_out_of_descriptors_is_a_503_and_the_gateway_recovers(
    gateway: ServerProcess, fake: FakeOpenAI
) -> None:
    with httpx.Client(timeout=WAIT) as http:
        # The client's connection is made while descriptors are free; its requests come on it.
        assert http.get(f"{gateway.url}/healthz").status_code == 200
        client = OpenAI(
            base_url=f"{gateway.url}/v1/local/default/openai",
            api_key="sk-test",
            max_retries=0,
            http_client=http,
        )
        fillers = fill_descriptors(gateway)
        try:
            with pytest.raises(openai.InternalServerError) as refused:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=USER, extra_headers={"cf-aig-max-attempts": "3"}
                )
            universal = http.post(
                f"{gateway.url}/v1/local/default",
                json=[
                    {
                        "provider": provider,
                        "endpoint": "chat/completions",
                        "headers": {"Authorization": "Bearer sk-test"},
                        "query": {"model": "gpt-4o-mini", "messages": USER},
                    }
                    for provider in ("openai", "openai")
                ],
            )
        finally:
            for filler in fillers:
                filler.close()

        error = refused.value
        assert error.status_code == 503
        assert error.body["code"] == "gateway_overloaded"  # type: ignore[index]
        assert "Too many open files" in error.message
        assert error.response.headers["retry-after"] == "1"
        assert universal.status_code == 503, universal.text
        assert universal.json()["error"]["code"] == "gateway_overloaded"
        assert fake.requests == []

        # Descriptors come back as the gateway closes the fillers' connections.
        wait_until(lambda: open_descriptors(gateway.process.pid) < OPEN_FILES // 2, "descriptors not freed")
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert answer.choices[0].message.content == "echo: hello there"
        assert httpx.get(f"{gateway.url}/healthz", timeout=WAIT).status_code == 200  # still accepting

        # Logged as the 503 it was: one attempt, neither retried (3 asked) nor fallen back.
        for response in (error.response, universal):
            record = log_record(gateway, http, response.headers["cf-aig-log-id"])
            assert (record["status"], record["step"]) == (503, 0)
            assert "out of resources (Too many open files)" in str(record["error"])
            # One try, and no upstream answered it: the record lists it (it is not the record's own).
            assert [(a["step"], a["status"]) for a in record["attempts"]] == [(0, 503)]
    output = gateway.diagnostics()
    assert output.count("requests get 503 gateway_overloaded") == 1, output  # once, not per request
    assert "upstream_unreachable" not in output
