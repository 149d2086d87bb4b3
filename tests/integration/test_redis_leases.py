"""Token reservations in Redis are held under leases (storage/redis_leases.py): a replica killed
mid-answer holds its reservations for one lease, not for the rest of a daily window; a settlement
Redis could not take is sent again once it answers, and counts once; a live answer's reservation
is renewed for as long as it runs.

Each gateway runs with a short lease (`stores.counters_lease`), so a test waits seconds, not the
default 30 s. Needs Redis on 127.0.0.1 (`redis_url`: skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.test_redis_outage import until
from tests.integration.test_shutdown import ServerProcess, start_gateway
from tests.integration.test_spend import spend

# A lease is renewed every third of it: these leave a stalled process (a GC pass, a busy core) a
# second or more before a live reservation lapses.
LEASE = 1.5
# Each request reserves its prompt and the rule's 600 output tokens: one at a time fits.
DAILY = {"name": "daily tokens", "limit": 1000, "period": 86400, "unit": "tokens", "reserve": 600}
QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
STREAMED = {**QUESTION, "stream": True, "stream_options": {"include_usage": True}}
PAUSED = {"x-fake-behavior": "pause-stream"}
CHAT = "/v1/local/default/openai/chat/completions"

# Latencies are bounded (a lease of 1.5 s): no full GC pass over the heap earlier tests left.
pytestmark = pytest.mark.usefixtures("still_heap")


def on_redis(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, cache_url: str, **stores: Any
) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, stores={"cache_url": cache_url, **stores})
    gateway.configure(rate_limits=[DAILY])
    return gateway


def budget_used(gateway: RunningGateway) -> float | None:
    """What the daily rule counts now, settled use and live reservations, as the spend page reads it
    (None while the gateway cannot reach Redis)."""
    budgets = spend(gateway)["budgets"]
    if not budgets:
        return None
    used: float = budgets[0]["used"]
    return used


def logged_tokens(record: dict[str, Any]) -> int:
    return int(record["tokens_in"]) + int(record["tokens_out"])


def start_replica(tmp_path: Path, fake: FakeOpenAI, redis_url: str) -> ServerProcess:
    """A gateway process of its own (so it can be killed) on the test's Redis and data directory."""
    settings = {
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_CACHE_URL": redis_url,
        "SLUICEGATE_STORES__COUNTERS_LEASE": str(LEASE),
    }
    return start_gateway(tmp_path, tmp_path / "data", settings, "replica")


@pytest.fixture
def replica(tmp_path: Path, fake: FakeOpenAI, redis_url: str) -> Iterator[ServerProcess]:
    server = start_replica(tmp_path, fake, redis_url)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def test_a_killed_replicas_reservation_stops_counting_within_its_lease(
    replica: ServerProcess, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    saved = httpx.patch(
        f"{replica.url}/api/v1/accounts/local/gateways/default",
        json={"settings": {"rate_limits": [DAILY]}},
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    with (
        httpx.Client(base_url=replica.url, timeout=10) as client,
        client.stream("POST", CHAT, json=STREAMED, headers=PAUSED) as paused,
    ):
        assert paused.status_code == 200
        assert fake.first_chunk_sent.wait(5)
        assert client.post(CHAT, json=QUESTION).status_code == 429  # the paused answer holds the budget
        replica.process.send_signal(signal.SIGKILL)  # mid-answer: nothing settles its reservation
        replica.process.wait()
        killed = time.monotonic()
    # Another replica, on the same Redis and database (the rule), with the default lease.
    survivor = make_gateway(upstreams={"openai": fake.base_url}, stores={"cache_url": redis_url})
    answers: list[httpx.Response] = []

    def admitted() -> bool:
        answers.append(survivor.http.post(CHAT, json=QUESTION))
        return answers[-1].status_code == 200

    until(admitted, "an answer the dead replica's reservation would have refused", timeout=LEASE + 10)
    waited = time.monotonic() - killed  # the lease, or the survivor's start if that took longer
    assert {answer.status_code for answer in answers[:-1]} <= {429}, waited
    [record] = survivor.wait_for_logs(1, status="200")
    until(lambda: budget_used(survivor) == logged_tokens(record), "the answer settled")
    # The day's budget counts the one answer alone: the dead replica's reservation is gone from it.
    assert budget_used(survivor) == logged_tokens(record) < DAILY["limit"] / 2


def limiter_failures(gateway: RunningGateway) -> float:
    for line in gateway.http.get("/metrics").text.splitlines():
        if line.startswith("sluicegate_rate_limiter_failures_total "):
            return float(line.split()[1])
    raise AssertionError("no sluicegate_rate_limiter_failures_total in /metrics")


def test_a_settlement_redis_could_not_take_counts_once_when_it_is_back(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str
) -> None:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None
    assert parts.port is not None
    with TcpProxy((parts.hostname, parts.port)) as proxy:
        through = f"redis://127.0.0.1:{proxy.port}{parts.path}?{parts.query}"
        gateway = on_redis(make_gateway, fake, through, counters_lease=LEASE)
        with (
            httpx.Client(base_url=gateway.url, timeout=10) as client,
            client.stream("POST", CHAT, json=STREAMED, headers=PAUSED) as paused,
        ):
            assert paused.status_code == 200
            assert fake.first_chunk_sent.wait(5)
            reserved = budget_used(gateway)
            assert reserved is not None
            with proxy.cut():  # Redis unreachable as the answer ends and settles
                fake.release()
                assert paused.read().rstrip().endswith(b"data: [DONE]")
                until(lambda: limiter_failures(gateway) >= 1, "the settlement failing")
        [record] = gateway.wait_for_logs(1)
        used = logged_tokens(record)
        assert 0 < used < reserved  # the reservation erred high: its settlement changes the figure
        # Back: the kept settlement goes with the next renewal round (a third of a lease).
        until(lambda: budget_used(gateway) not in (None, reserved), "the kept settlement sent again")
        assert budget_used(gateway) == used  # the use, once; the reservation gone
        second = gateway.http.post(CHAT, json=QUESTION)
        assert second.status_code == 200  # room again: the stale reservation no longer holds it
        assert float(second.headers["x-ratelimit-remaining"]) < DAILY["limit"] - used


def test_a_reservation_counts_for_as_long_as_its_answer_runs(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str
) -> None:
    gateway = on_redis(make_gateway, fake, redis_url, counters_lease=LEASE)
    with (
        httpx.Client(base_url=gateway.url, timeout=10) as client,
        client.stream("POST", CHAT, json=STREAMED, headers=PAUSED) as paused,
    ):
        assert paused.status_code == 200
        assert fake.first_chunk_sent.wait(5)
        started, refused = time.monotonic(), 0
        while time.monotonic() - started < 3 * LEASE:  # renewed at least six times meanwhile
            assert client.post(CHAT, json=QUESTION).status_code == 429, refused
            refused += 1
            time.sleep(0.05)  # paces the checks; nothing waits on it
        fake.release()
        assert paused.read().rstrip().endswith(b"data: [DONE]")
    [answered] = gateway.wait_for_logs(1, status="200")
    until(lambda: budget_used(gateway) == logged_tokens(answered), "the answer settled")
    assert gateway.http.post(CHAT, json=QUESTION).status_code == 200  # settled: room for the next
