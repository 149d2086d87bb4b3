"""A gateway killed with SIGKILL under load loses no answered request's log record.

The first process runs with a one-hour flush interval, so nothing reaches the database before the
kill: every record stored afterwards was read back from the spool by the restarted process.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from openai import OpenAI

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_shutdown import (
    LOG_ID,
    USER,
    ServerProcess,
    start_gateway,
    stored_log_ids,
)

CLIENTS = 4
ANSWERS_BEFORE_KILL = 80
STORE_TIMEOUT = 30.0


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


def start(tmp_path: Path, fake: FakeOpenAI, flush_interval: str, name: str) -> ServerProcess:
    settings = {"SLUICEGATE_UPSTREAM_OPENAI": fake.base_url, "SLUICEGATE_LOG_FLUSH_INTERVAL": flush_interval}
    return start_gateway(tmp_path, tmp_path / "data", settings, name)


class Load:
    """Clients sending plain and streamed chat completions until the gateway goes away; the log
    id of every answer received whole."""

    def __init__(self, server: ServerProcess) -> None:
        self._url = f"{server.url}/v1/local/default/openai"
        self.answered: list[str] = []
        self._lock = threading.Lock()
        self.enough = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for thread in self.threads:
            thread.join(timeout=30)

    def _client(self, n: int) -> None:
        with OpenAI(base_url=self._url, api_key="sk-test", max_retries=0, timeout=10) as client:
            for request in range(1_000_000):
                try:
                    log_id = self._one(client, streamed=(request + n) % 3 == 0)
                except Exception:  # the gateway was killed: this client is done
                    return
                with self._lock:
                    self.answered.append(log_id)
                    if len(self.answered) >= ANSWERS_BEFORE_KILL:
                        self.enough.set()

    @staticmethod
    def _one(client: OpenAI, streamed: bool) -> str:
        if streamed:
            raw_stream = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(raw_stream.parse())  # to the stream's end: the answer is complete
            assert chunks[-1].usage is not None
            return raw_stream.headers[LOG_ID]
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
        assert raw.parse().choices[0].message.content == "echo: hello there world"
        return raw.headers[LOG_ID]


def wait_stored(server: ServerProcess, ids: set[str]) -> None:
    """Poll the restarted gateway's logs until every id is stored (or the timeout says not)."""
    deadline = time.monotonic() + STORE_TIMEOUT
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    missing = set(ids)
    while missing and time.monotonic() < deadline:
        for log_id in list(missing)[:50]:
            url = f"{server.url}/api/v1/accounts/local/gateways/default/logs/{log_id}"
            if httpx.get(url, headers=headers, timeout=5).status_code == 200:
                missing.discard(log_id)
    assert not missing, f"{len(missing)} of {len(ids)} answered requests missing from the logs"


def test_a_kill_under_load_loses_no_answered_request(tmp_path: Path, fake: FakeOpenAI) -> None:
    first = start(tmp_path, fake, flush_interval="3600", name="first")
    try:
        with Load(first) as load:
            assert load.enough.wait(60), first.diagnostics()
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
    answered = load.answered
    assert len(answered) >= ANSWERS_BEFORE_KILL
    assert len(set(answered)) == len(answered)

    second = start(tmp_path, fake, flush_interval="0.05", name="second")
    try:
        wait_stored(second, set(answered))
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=30) == 0, second.diagnostics()
    finally:
        if second.process.poll() is None:
            second.process.kill()
            second.process.wait()
    stored = stored_log_ids(tmp_path / "data")
    assert len(stored) == len(set(stored))  # each record once
    assert set(answered) <= set(stored)
    # The spool kept only what was not yet stored, and was emptied once it was.
    assert not list((tmp_path / "data" / "spool").rglob("*.ndjson"))
