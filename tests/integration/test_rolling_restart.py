"""A rolling restart of two replicas (processes) on one PostgreSQL and one Redis, under load, loses
no request and no charge.

The clients spread their requests over both replicas as a load balancer does: a replica that
refuses a connection, or closes one before answering (it had not taken the request), is passed
over for the other. Each replica in turn gets SIGTERM, exits cleanly and is started again on its
port, while the load goes on. Afterwards every answered request is in the logs once, every
request sent was answered whole, and the token and cost budgets in Redis hold exactly what the
logged requests used: no reservation left unsettled, no charge lost or counted twice.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
import redis

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_shutdown import EXIT_TIMEOUT, LOG_ID, USER, ServerProcess, free_port, wait_healthy
from tests.integration.test_upgrade import run_sql

CLIENTS = 4
STEP = 40  # answers between two steps of the rolling restart
RULES = [
    {"limit": 1e9, "period": 86400, "unit": "tokens"},
    {"limit": 1e6, "period": 86400, "unit": "cost"},
]
CHAT = "/v1/local/default/openai/chat/completions"


class Replica:
    def __init__(self, name: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._name, self._tmp, self._env = name, tmp_path, env
        self._starts = itertools.count()
        self.server: ServerProcess | None = None

    def start(self) -> None:
        output = self._tmp / f"{self._name}-{next(self._starts)}.log"
        env = self._env | {"SLUICEGATE_DATA": str(self._tmp / self._name)}
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "sluicegate", "serve", "--port", str(self.port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.server = ServerProcess(process, self.url, self._tmp / self._name, output)
        wait_healthy(self.server)

    def stop(self) -> None:
        """SIGTERM, as a deploy does: in-flight requests finish, then it exits 0."""
        assert self.server is not None
        self.server.process.send_signal(signal.SIGTERM)
        assert self.server.process.wait(timeout=EXIT_TIMEOUT) == 0, self.server.diagnostics()

    def kill(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.server.process.kill()
            self.server.process.wait()


class Balanced:
    """Clients over the replicas, round robin; what each answer was."""

    def __init__(self, replicas: list[Replica]) -> None:
        self._replicas = replicas
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self.answered: list[str] = []
        self.broken: list[str] = []  # answers begun and not finished: lost requests
        self.passed_over = 0  # tries a replica did not take (it was stopping or down)
        # Tries a stopping replica refused with a 503 (the body had not arrived): logged, then sent again.
        self.refused: list[str] = []
        self.progress = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> Balanced:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, count: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.answered) >= count, timeout=60), len(self.answered)

    def _client(self, n: int) -> None:
        with httpx.Client(timeout=30) as client:
            for request in itertools.count():
                if self._stop.is_set():
                    return
                log_id = self._send(client, streamed=(request + n) % 3 == 0)
                with self.progress:
                    if log_id is not None:
                        self.answered.append(log_id)
                    self.progress.notify_all()

    def _send(self, client: httpx.Client, streamed: bool) -> str | None:
        body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": USER}
        if streamed:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        while True:
            replica = self._replicas[next(self._turn) % len(self._replicas)]
            try:
                response = client.send(
                    client.build_request("POST", replica.url + CHAT, json=body), stream=True
                )
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                with self._lock:
                    self.passed_over += 1
                continue  # not taken: the balancer tries the next replica
            try:
                text = response.read().decode()
                if response.status_code == 503 and '"gateway_stopping"' in text:
                    with self._lock:
                        self.passed_over += 1
                        self.refused.append(response.headers[LOG_ID])
                    continue
                assert response.status_code == 200, text
                assert not streamed or text.rstrip().endswith("data: [DONE]"), text
                return response.headers[LOG_ID]
            except httpx.TransportError as exc:
                with self._lock:
                    self.broken.append(f"{replica.url}: {exc!r}")
                return None
            finally:
                response.close()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


def test_a_rolling_restart_under_load_loses_no_request_and_no_charge(
    tmp_path: Path, fake: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATABASE_URL": postgres_url,
        "SLUICEGATE_CACHE_URL": redis_url,
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_LOG_FLUSH_INTERVAL": "0.05",
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    replicas = [Replica("a", tmp_path, env), Replica("b", tmp_path, env)]
    try:
        replicas[0].start()
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        settings = {"settings": {"rate_limits": RULES}}
        patched = httpx.patch(
            f"{replicas[0].url}/api/v1/accounts/local/gateways/default", json=settings, headers=admin
        )
        assert patched.status_code == 200, patched.text
        replicas[1].start()  # loads the gateway with its rules
        with Balanced(replicas) as load:
            load.wait_for(STEP)
            for step, replica in enumerate(replicas, start=2):
                replica.stop()
                replica.start()  # on its own port again: the balancer sends it requests again
                load.wait_for(step * STEP)
        for replica in replicas:
            replica.stop()
    finally:
        for replica in replicas:
            replica.kill()

    assert load.broken == []  # every request sent was answered whole
    assert load.passed_over > 0  # the load did meet replicas going down
    answered = load.answered
    assert len(answered) == len(set(answered)) >= len(replicas) * STEP + STEP
    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]
    rows = run_sql(postgres_url, f'SELECT id, tokens_in, tokens_out, cost_usd FROM "{schema}".logs')
    # each answered request, once (a refusal by a stopping replica is an answer too)
    assert sorted(row["id"] for row in rows) == sorted(answered + load.refused)
    # (a refusal used nothing: its tokens and cost are null)
    used_tokens = sum((row["tokens_in"] or 0) + (row["tokens_out"] or 0) for row in rows)
    used_cost = sum(row["cost_usd"] or 0 for row in rows)
    assert used_tokens > 0
    assert used_cost > 0
    charged = counters(redis_url)
    assert charged[0] == used_tokens  # settled exactly: no reservation left, nothing lost or doubled
    assert math.isclose(charged[1], used_cost, rel_tol=1e-9)


def counters(redis_url: str) -> dict[int, float]:
    """The gateway's rule counters in Redis, summed over windows, by rule index."""
    prefix = parse_qs(urlsplit(redis_url).query)["prefix"][0] + "rl:local/default/"
    client = redis.Redis.from_url(redis_url.split("?", 1)[0])
    totals: dict[int, float] = {}
    try:
        for key in client.scan_iter(match=prefix + "*"):
            index = int(key.decode().removeprefix(prefix).split(".", 1)[0])
            totals[index] = totals.get(index, 0.0) + float(client.get(key) or 0)
    finally:
        client.close()
    return totals
