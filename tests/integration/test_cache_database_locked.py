"""The exact cache over SQLite while another process holds the database's write lock: no request
waits for it. A store that meets the lock is dropped (the answer stays in memory), counted in
/metrics and logged once; lookups read beside the lock (WAL), and stores resume once it is gone.

Before, a store waited out SQLite's busy timeout (5 s) on the connection that also answers the
cache's lookups, and the next request's lookup queued behind it: 17, 5020, 540, 15 ms."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.usefixtures("still_heap")
REQUESTS = 8
# Each request takes a few tens of milliseconds; one that waited for the lock took the busy
# timeout, 5 s. Room for a loaded machine, well below that.
SLOWEST_S = 1.5


@contextlib.contextmanager
def exclusive(database: Path) -> Iterator[None]:
    """Another connection's `BEGIN EXCLUSIVE` (a CLI, a backup tool) held for the block."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def stream(client: OpenAI, n: int) -> tuple[str, float]:
    """A streamed chat completion no request before asked (a miss): its cache status and seconds."""
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {n}"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    assert text == f"echo: question {n}"
    return raw.headers["cf-aig-cache-status"], time.perf_counter() - started


def stored_keys(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM cache").fetchone()[0])


def dropped_writes(gateway: RunningGateway) -> float:
    for line in gateway.http.get("/metrics").text.splitlines():
        if line.startswith("sluicegate_cache_writes_dropped_total "):
            return float(line.split()[1])
    raise AssertionError("no sluicegate_cache_writes_dropped_total in /metrics")


def cache_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "exact cache" in record.getMessage()]


def test_a_locked_database_makes_no_cached_request_wait(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sluicegate.storage.cache")
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.configure(cache_enabled=True)
    database = gateway.settings.data_dir / "sluicegate.db"
    with OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        assert stream(client, 0)[0] == "MISS"  # warm: the gateway and its settings are known
        deadline = time.monotonic() + 10
        while stored_keys(database) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # written behind the answer (polled; the GIL left to the gateway)
        assert stored_keys(database) == 1
        with exclusive(database):
            answered = [stream(client, n) for n in range(1, REQUESTS + 1)]
            assert [status for status, _ in answered] == ["MISS"] * REQUESTS
            latencies = [seconds for _, seconds in answered]
            assert max(latencies) < SLOWEST_S, [round(seconds * 1000) for seconds in latencies]
            deadline = time.monotonic() + 10
            while dropped_writes(gateway) < REQUESTS and time.monotonic() < deadline:
                time.sleep(0.01)  # the stores give up on the lock behind the answers (polled)
            assert dropped_writes(gateway) == REQUESTS
            # Served from memory meanwhile, though not stored in the database.
            assert stream(client, 1)[0] == "HIT"
        # The lock gone, stores resume (after a second's rest): new answers reach the database.
        n, deadline = REQUESTS + 1, time.monotonic() + 10
        while stored_keys(database) < 2 and time.monotonic() < deadline:
            stream(client, n)
            n += 1
        assert stored_keys(database) >= 2
    deadline = time.monotonic() + 10
    while len(said := cache_lines(caplog)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # logged on the gateway's thread once the store's commit is back there
    assert len(said) == 2, said  # once as the outage begins, once as it ends; not once a store
    assert "cannot be stored in the database (database is locked" in said[0]
    assert "stored in the database again after" in said[1]
