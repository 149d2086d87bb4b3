"""A graceful shutdown writes every pending log record before the process exits.

The server runs as `python -m sluicegate serve` with a one-hour flush interval, so no record is
written while it runs: whatever is in the database afterwards was written by the shutdown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import orjson
import pytest
from openai import OpenAI

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import parse_responses
from tests.ports import free_port

LOG_ID = "cf-aig-log-id"
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0
USER: list[Any] = [{"role": "user", "content": "hello there world"}]


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    output: Path

    def diagnostics(self) -> str:
        return self.output.read_text(errors="replace")


def wait_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.diagnostics()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not healthy within {START_TIMEOUT}s:\n{server.diagnostics()}")


def start_gateway(
    tmp_path: Path, data_dir: Path, settings: dict[str, str], name: str = "server"
) -> ServerProcess:
    """A gateway process of its own (so it can be signalled or killed) on a free port, its output in
    `<name>.log`, with no SLUICEGATE_* setting of this environment but `settings` and the admin
    token; returned once healthy (killed if it never is)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(data_dir),
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        **settings,
    }
    output = tmp_path / f"{name}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sluicegate", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir, output)
    try:
        wait_healthy(server)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


def wait_refusing(server: ServerProcess, timeout: float = 10.0) -> bool:
    """Poll until the server no longer accepts connections (it has begun shutting down)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{server.url}/healthz", timeout=1)
        except httpx.TransportError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, fake: FakeOpenAI) -> Iterator[ServerProcess]:
    settings = {"SLUICEGATE_UPSTREAM_OPENAI": fake.base_url, "SLUICEGATE_LOG_FLUSH_INTERVAL": "3600"}
    running = start_gateway(tmp_path, tmp_path / "data", settings)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def make_requests(server: ServerProcess, count: int) -> list[str]:
    """`count` chat completions, every third one streamed; the log id of each."""
    ids: list[str] = []
    base_url = f"{server.url}/v1/local/default/openai"
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        for n in range(count):
            if n % 3 == 2:
                raw_stream = client.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
                )
                chunks = list(raw_stream.parse())
                assert chunks[-1].usage is not None
                ids.append(raw_stream.headers[LOG_ID])
            else:
                raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
                assert raw.parse().choices[0].message.content == "echo: hello there world"
                ids.append(raw.headers[LOG_ID])
    return ids


def stored_log_ids(data_dir: Path) -> list[str]:
    """Every log id in the server's SQLite file, opened read-only after the server has gone."""
    database = data_dir / "sluicegate.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT id FROM logs ORDER BY id").fetchall()
    connection.close()
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("sig", "count"), [(signal.SIGTERM, 25), (signal.SIGINT, 7)], ids=["SIGTERM", "SIGINT"]
)
def test_shutdown_flushes_every_pending_log_record(
    server: ServerProcess, sig: signal.Signals, count: int
) -> None:
    ids = make_requests(server, count)
    unwritten = httpx.get(
        f"{server.url}/api/v1/accounts/local/gateways/default/logs",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=5,
    )
    assert unwritten.json()["result"] == [], "records were written before shutdown; the test proves nothing"

    server.process.send_signal(sig)

    assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
    assert len(set(ids)) == count
    assert stored_log_ids(server.data_dir) == sorted(ids), server.diagnostics()
    assert "Traceback" not in server.diagnostics()


def test_a_stream_in_flight_at_shutdown_finishes_and_is_logged(
    server: ServerProcess, fake: FakeOpenAI
) -> None:
    first = make_requests(server, 2)
    result: dict[str, Any] = {}

    def stream_through_shutdown() -> None:
        base_url = f"{server.url}/v1/local/default/openai"
        with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=USER, stream=True, extra_headers={"x-fake-behavior": "pause-stream"}
            )
            result["id"] = raw.headers[LOG_ID]
            result["text"] = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)

    reader = threading.Thread(target=stream_through_shutdown)
    reader.start()
    try:
        assert fake.first_chunk_sent.wait(10), "the stream never started"
        server.process.send_signal(signal.SIGTERM)
        assert wait_refusing(server), "the server kept accepting connections after SIGTERM"
        assert server.process.poll() is None, "the server exited with a stream still in flight"
    finally:
        fake.release()
        reader.join(timeout=EXIT_TIMEOUT)

    assert result.get("text") == "echo: hello there world", server.diagnostics()
    assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
    assert stored_log_ids(server.data_dir) == sorted([*first, result["id"]])


def wait_for_output(server: ServerProcess, text: str, count: int = 1, timeout: float = 10.0) -> bool:
    """Poll the server's output until `text` is in it `count` times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.diagnostics().count(text) >= count:
            return True
        time.sleep(0.02)
    return False


def stream_paused(server: ServerProcess, gate: str, result: dict[str, Any]) -> threading.Thread:
    """A streamed chat completion the fake holds after its first chunk until `gate` is released;
    its log id and text (or the error that cut it) land in `result`."""

    def read() -> None:
        base_url = f"{server.url}/v1/local/default/openai"
        try:
            with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
                raw = client.chat.completions.with_raw_response.create(
                    model="gpt-4o",
                    messages=USER,
                    stream=True,
                    extra_headers={"x-fake-behavior": "pause-stream", "x-fake-gate": gate},
                )
                result["id"] = raw.headers[LOG_ID]
                result["text"] = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        except Exception as exc:  # cut by the server: what the test reports
            result["error"] = repr(exc)

    reader = threading.Thread(target=read)
    reader.start()
    return reader


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_stop_signal_does_not_cut_the_stop_short(
    server: ServerProcess, fake: FakeOpenAI, sig: signal.Signals
) -> None:
    """What `timeout`, systemd's control-group kill and Ctrl-C on `serve --workers N` do: a second
    signal while the first stop runs. It is ignored: the answer in flight finishes, every shutdown
    step runs (its record is stored) and the process exits 0."""
    first = make_requests(server, 2)
    result: dict[str, Any] = {}
    reader = stream_paused(server, "held", result)
    try:
        assert fake.pause("held").chunk_sent.wait(10), "the stream never started"
        server.process.send_signal(sig)
        assert wait_refusing(server), "the server kept accepting connections after the signal"
        server.process.send_signal(sig)
        assert wait_for_output(server, f"{sig.name} ignored"), (result, server.diagnostics())
        assert server.process.poll() is None, "the server exited with a stream still in flight"
    finally:
        fake.release("held")
        reader.join(timeout=EXIT_TIMEOUT)

    assert result.get("text") == "echo: hello there world", (result, server.diagnostics())
    assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
    assert stored_log_ids(server.data_dir) == sorted([*first, result["id"]])
    assert "Traceback" not in server.diagnostics()


def test_a_request_whose_body_is_on_its_way_at_shutdown_is_refused_at_once(server: ServerProcess) -> None:
    """The server takes no more bytes once it stops: a body still on its way would never come. The
    request gets a 503 that says to send it again, at once, not a 408 after the body timeout, and
    the stop does not wait for it."""
    make_requests(server, 1)  # warm: the gateway and its token are loaded
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": USER})
    head = (
        "POST /v1/local/default/openai/chat/completions HTTP/1.1\r\n"
        f"Host: {urlsplit(server.url).netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nAuthorization: Bearer sk-test\r\n\r\n"
    ).encode()
    port = urlsplit(server.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body[:10])
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue"), "the request was not taken"
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        answered_in = time.monotonic() - stopped_at
    responses = parse_responses(answer)
    assert [response.status for response in responses] == [503], answer  # (100 Continue read above)
    refused = responses[0]
    assert refused.headers["retry-after"] == "0"
    assert orjson.loads(refused.body)["error"]["code"] == "gateway_stopping"
    assert answered_in < 5, f"answered {answered_in:.1f} s after the stop began"
    assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
    assert refused.headers[LOG_ID] in stored_log_ids(server.data_dir)  # answered, so logged


def whole_answer_paused(server: ServerProcess, gate: str, result: dict[str, Any]) -> threading.Thread:
    """A chat completion (not streamed) whose answer the fake holds before its last kilobyte until
    `gate` is released; the error that cut it lands in `result`."""

    def read() -> None:
        base_url = f"{server.url}/v1/local/default/openai"
        try:
            with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=USER,
                    extra_headers={"x-fake-behavior": "pause-stream,chunked", "x-fake-gate": gate},
                )
        except Exception as exc:  # cut by the server: what the test reports
            result["error"] = repr(exc)

    reader = threading.Thread(target=read)
    reader.start()
    return reader


def test_a_stream_still_moving_after_the_stops_grace_is_cut_and_logged(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    """`timeouts.stop_grace` bounds the stop: a stream that outlives it is cut (its connection
    closed), its record stored with the error, and the process exits, well before a supervisor's
    own limit would kill it mid-stream. So is an answer not streamed still on its way. Each record
    says the gateway's stop cut it (they said `client disconnected before the response ended`)."""
    settings = {
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_LOG_FLUSH_INTERVAL": "3600",
        "SLUICEGATE_TIMEOUTS__STOP_GRACE": "1",
    }
    server = start_gateway(tmp_path, tmp_path / "data", settings)
    result: dict[str, Any] = {}
    whole: dict[str, Any] = {}
    readers = [stream_paused(server, "never", result), whole_answer_paused(server, "whole", whole)]
    try:
        assert fake.pause("never").chunk_sent.wait(10), "the stream never started"
        assert fake.pause("whole").chunk_sent.wait(10), "the whole answer never started"
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
        stopped_in = time.monotonic() - stopped_at
        for reader in readers:
            reader.join(timeout=EXIT_TIMEOUT)
    finally:
        fake.release("never")
        fake.release("whole")
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert stopped_in < 10, f"stopped {stopped_in:.1f} s after SIGTERM with a 1 s grace"
    assert "error" in result, result  # the client saw its stream cut, not a whole answer
    assert "error" in whole, whole
    assert "after the stop's grace" in server.diagnostics()
    database = server.data_dir / "sluicegate.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        records = connection.execute("SELECT stream, status, error FROM logs ORDER BY stream").fetchall()
    cut = "cut at the gateway's stop, after its grace of 1 s (timeouts.stop_grace)"
    assert records == [(0, 503, cut), (1, 200, cut)]  # each cut request's record
