"""PostgreSQL unreachable, or SQLite locked by another process, for seconds under load: requests keep
their latency, the log records wait in the spool on disk, and every one is stored once the
database is back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tcp_proxy import TcpProxy

OUTAGE_S = 4.0
LOCKED_S = 6.0  # past SQLite's busy timeout (5 s): the writes waiting on the lock fail
WARM_UP = 60
USER = [{"role": "user", "content": "hello there world"}]
LOG_ID = "cf-aig-log-id"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(postgres_url)
    with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as running:
        yield running


def through(postgres_url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(postgres_url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


def ask(client: OpenAI, n: int) -> tuple[str, float]:
    """One chat completion (every fourth streamed): its log id and its latency in seconds."""
    started = time.perf_counter()
    if n % 4 == 3:
        raw_stream = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=USER, stream=True
        )
        assert list(raw_stream.parse())
        log_id = raw_stream.headers[LOG_ID]
    else:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
        assert raw.parse().choices[0].message.content == "echo: hello there world"
        log_id = raw.headers[LOG_ID]
    return log_id, time.perf_counter() - started


def wait_stored(postgres_url: str, count: int, timeout: float = 30.0) -> list[str]:
    """The ids in the test's schema, polled until there are `count` (or the timeout passes)."""
    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]

    async def ids() -> list[str]:
        connection = await asyncpg.connect(postgres_url.split("?", 1)[0], timeout=5)
        try:
            return [row["id"] for row in await connection.fetch(f'SELECT id FROM "{schema}".logs')]
        finally:
            await connection.close()

    deadline = time.monotonic() + timeout
    while len(stored := asyncio.run(ids())) < count and time.monotonic() < deadline:
        pass
    return stored


def run_through(
    gateway: RunningGateway, outage: contextlib.AbstractContextManager[object], seconds: float
) -> tuple[list[str], list[float], list[float]]:
    """Requests before and during `outage`: every log id, and the latencies before and during."""
    ids: list[str] = []
    before: list[float] = []
    during: list[float] = []
    with OpenAI(
        base_url=f"{gateway.url}/v1/local/default/openai", api_key="sk-test", max_retries=0
    ) as client:
        for n in range(WARM_UP):
            log_id, latency = ask(client, n)
            ids.append(log_id)
            before.append(latency)
        gateway.wait_for_logs(len(ids), timeout=30)
        with outage:
            ends = time.monotonic() + seconds
            n = 0
            while time.monotonic() < ends:  # every request must be answered, as fast as before
                log_id, latency = ask(client, n)
                ids.append(log_id)
                during.append(latency)
                n += 1
            assert spool_backlog(gateway) > 0  # the records wait on disk, and /metrics says so
    return ids, before, during


def assert_unaffected(before: list[float], during: list[float]) -> None:
    p50_before, p50_during = statistics.median(before), statistics.median(during)
    assert p50_during <= 2 * p50_before + 0.005, (p50_before, p50_during)
    assert max(during) < 0.5, sorted(during)[-5:]  # no request waited for the database


def wait_spool_empty(gateway: RunningGateway) -> None:
    deadline = time.monotonic() + 10
    while spool_backlog(gateway) and time.monotonic() < deadline:
        pass  # the last segment is deleted just after its records are stored
    assert spool_backlog(gateway) == 0


def spool_backlog(gateway: RunningGateway) -> float:
    for line in gateway.http.get("/metrics").text.splitlines():
        if line.startswith("sluicegate_log_spool_backlog_records "):
            return float(line.split()[1])
    raise AssertionError("no spool backlog in /metrics")


def test_postgres_down_for_seconds_costs_no_latency_and_no_record(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, postgres_url: str, proxy: TcpProxy
) -> None:
    gateway = make_gateway(database_url=through(postgres_url, proxy), upstreams={"openai": fake.base_url})
    ids, before, during = run_through(gateway, proxy.cut(), OUTAGE_S)
    assert_unaffected(before, during)
    stored = wait_stored(postgres_url, len(ids))
    assert sorted(stored) == sorted(ids)  # every record, each once
    wait_spool_empty(gateway)


@contextlib.contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Another process's write transaction holds SQLite's lock (as a CLI command or backup may)."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def sqlite_ids(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM logs")]


def test_sqlite_locked_for_seconds_costs_no_latency_and_no_record(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    database = gateway.settings.data_dir / "sluicegate.db"
    ids, before, during = run_through(gateway, write_locked(database), LOCKED_S)
    assert_unaffected(before, during)
    deadline = time.monotonic() + 30
    while len(stored := sqlite_ids(database)) < len(ids) and time.monotonic() < deadline:
        pass
    assert sorted(stored) == sorted(ids)  # every record, each once
    wait_spool_empty(gateway)
