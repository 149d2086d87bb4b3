"""Shared factories: settings, a running gateway on loopback, SDK clients pointed at it."""

from __future__ import annotations

import functools
import gc
import os
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web_app

import sluicegate.app
from sluicegate import background
from sluicegate.app import create_app
from sluicegate.config import Settings, load_settings
from sluicegate.embeddings import local as local_embedder
from sluicegate.storage.sqlite import SqliteDatabase
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread
from tests.redis_process import RedisProcess

ADMIN_TOKEN = "sg_test-admin-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's background workers start with a core not marked busy: a slow job in one test
    (a loaded CI machine) must not decide which worker the next test's jobs run on."""
    monkeypatch.setattr(background, "CORE", background.Contention())


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """aiohttp caches each application's middleware chain (up to 1,024, keyed by the application),
    which in a server is one entry and here keeps every gateway and fake a test made alive: a
    worker's heap grew to over a million objects and full garbage-collection passes took a fifth
    of its CPU. Cleared after each test, they are collected as soon as the test is done."""
    yield
    web_app._cached_build_middleware.cache_clear()


# Loading the CA bundle costs ~25 ms, and every SDK and httpx client the tests make builds a context
# of its own (about 5 % of the integration tier's CPU). Every test speaks plain HTTP to loopback and
# nothing here loads a certificate into a context, so one context for each set of arguments serves
# them all. Shared means changed for all: a test that needs TLS settings of its own (a certificate,
# ALPN) builds an `ssl.SSLContext` itself.
ssl.create_default_context = functools.cache(ssl.create_default_context)
ADMIN_CLIENT_TLS = ssl.create_default_context()


class RunningGateway:
    """A gateway served from a thread on 127.0.0.1, and an HTTP client for its admin API that
    carries the bootstrap admin token (the proxy ignores `Authorization`: it is the provider's)."""

    def __init__(self, server: ServerThread, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.url = server.url
        self.http = httpx.Client(
            base_url=server.url,
            timeout=10,
            headers={"Authorization": f"Bearer {settings.admin_token}"},
            verify=ADMIN_CLIENT_TLS,
        )

    def provider_url(self, provider: str, gateway: str = "default", account: str = "local") -> str:
        return f"{self.url}/v1/{account}/{gateway}/{provider}"

    def configure(self, gateway: str = "default", account: str = "local", **settings: Any) -> None:
        """Change the gateway's settings through the admin API, as an operator would."""
        response = self.http.patch(
            f"/api/v1/accounts/{account}/gateways/{gateway}", json={"settings": settings}
        )
        assert response.status_code == 200, response.text

    def logs(self, gateway: str = "default", account: str = "local", **params: Any) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/v1/accounts/{account}/gateways/{gateway}/logs", params=params)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["result"]
        return result

    def wait_for_logs(
        self, count: int, gateway: str = "default", timeout: float = 10.0, **params: Any
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` records match: records are written in batches, after the response."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.logs(gateway, limit=max(count, 50), **params)
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)


@pytest.fixture
def still_heap() -> Iterator[None]:
    """For a test that bounds a request's latency: the objects earlier tests left in this process
    are kept out of the garbage collector's full passes while it runs. The gateway is a thread of
    the test process, so a full pass over a worker's heap late in the slow tier (a million objects:
    0.3-0.7 s here, 2.4 s once on CI) stalls it like a stop of the machine, which is not what the
    test measures. Objects the test itself creates are collected as usual."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture(scope="session", autouse=True)
def shared_models() -> Iterator[None]:
    """Every gateway loads the packaged embedding and NLI models on first use (1–3 s each); the tests
    start hundreds of gateways, so they share one loaded copy of each per process. What a test checks
    never depends on a model's own copy: sessions and tokenizers are read-only and thread-safe."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_embedder, "_Model", functools.cache(local_embedder._Model))
        patch.setattr(sluicegate.app, "load_verifier", functools.cache(sluicegate.app.load_verifier))
        yield


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A fake OpenAI upstream on loopback (a test file with other needs defines its own `fake`)."""
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    """A fake Gemini upstream on loopback, beside `fake` where a test needs both."""
    with FakeGemini().serve() as server:
        yield server


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    """A fake Anthropic upstream on loopback."""
    with FakeAnthropic().serve() as server:
        yield server


@pytest.fixture
def backend() -> str:
    """Which storage the gateways of a test use: `embedded` (SQLite, in-process cache and counters)
    or `scaled` (PostgreSQL and Redis). A test module runs its tests on both by overriding this
    fixture with `params=["embedded", "scaled"]` (see `both_backends`)."""
    return "embedded"


both_backends = pytest.fixture(params=["embedded", "scaled"])(lambda request: request.param)


@pytest.fixture
def make_settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    scaled: dict[str, Any] = {}
    if backend == "scaled":
        scaled = {
            "database_url": request.getfixturevalue("postgres_url"),
            "cache_url": request.getfixturevalue("redis_url"),
        }

    def make(**overrides: Any) -> Settings:
        for key, value in scaled.items():
            overrides.setdefault(key, value)
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("log_flush_interval", 0.02)
        overrides.setdefault("admin_token", ADMIN_TOKEN)
        return load_settings(environ={}, **overrides)

    return make


class FakeClock:
    """Wall-clock time that only moves when a test says so (for TTLs and windows, without sleeping)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_gateway(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def make(clock: Callable[[], float] = time.time, workers: int = 1, **overrides: Any) -> RunningGateway:
        """`workers`: as one of `serve --workers N`'s (only its app: one process serves)."""
        settings = make_settings(**overrides)
        app = create_app(settings, clock=clock, workers=workers)
        gateway = RunningGateway(ServerThread(app).start(), settings)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.http.close()
        gateway.server.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound but never listening, so no other server (say,
    one of a test on the other xdist worker) can take it meanwhile, as it can a port merely found free."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port: int = held.getsockname()[1]
        yield port


def require_service(name: str, reason: str) -> None:
    """Skip a test whose backing service is missing, or fail it when CI says services are required."""
    if os.environ.get("SLUICEGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (SLUICEGATE_REQUIRE_SERVICES=1) but unavailable: {reason}")
    pytest.skip(f"{name} is not available: {reason}")


REDIS_URL = os.environ.get("SLUICEGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("Redis", f"{REDIS_URL}: {exc}")
    prefix = f"sluicegate-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own, started, which the test may kill and start again."""
    binary = RedisProcess.binary()
    if binary is None:
        require_service("redis-server", "the binary is not installed")
        raise AssertionError("unreachable")
    server = RedisProcess(binary, tmp_path)
    server.start()
    yield server
    server.kill()


POSTGRES_URL = os.environ.get("SLUICEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a schema of this test's own; the schema is dropped afterwards."""
    import asyncio
    import concurrent.futures

    import asyncpg

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def run(sql: str) -> None:
        # On a thread of its own: a browser test's Playwright keeps an event loop running on this one.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, execute(sql)).result()

    try:
        run("SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        require_service("PostgreSQL", f"{POSTGRES_URL}: {exc}")
    schema = f"sluicegate_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def stored_bytes(settings: Settings) -> bytes:
    """Everything the gateway keeps, as bytes to search: every file of the data directory (the
    SQLite files checkpointed, the log spool, the counters, the semantic journal) and, on
    PostgreSQL, every row of every table in the schema."""
    import asyncio
    import sqlite3
    from urllib.parse import parse_qs, urlsplit

    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        with sqlite3.connect(settings.data_dir / "sluicegate.db") as connection:
            connection.execute("PRAGMA wal_checkpoint(FULL)")
    # Every file of the data directory (database, spool, counters, journal), whatever the database.
    files = b"".join(path.read_bytes() for path in sorted(settings.data_dir.rglob("*")) if path.is_file())
    if url.startswith("sqlite"):
        return files
    import asyncpg

    schema = parse_qs(urlsplit(url).query)["schema"][0]

    async def dump() -> bytes:
        connection = await asyncpg.connect(url.split("?", 1)[0], timeout=5)
        try:
            tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
            chunks = []
            for table in tables:
                rows = await connection.fetch(f'SELECT * FROM "{schema}"."{table["tablename"]}"')
                chunks += [repr(tuple(row.values())).encode() for row in rows]
                for row in rows:
                    chunks += [value for value in row.values() if isinstance(value, bytes)]
            return b"\n".join(chunks)
        finally:
            await connection.close()

    return files + asyncio.run(dump())


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """The embedded store, on disk in the test's own directory."""
    store = SqliteDatabase(tmp_path / "sluicegate.db")
    await store.open()
    yield store
    await store.close()
