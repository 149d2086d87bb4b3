"""Three gateway processes on one PostgreSQL and one Redis: any replica serves any request, and the
limits, cache, logs and tokens are one system."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import openai
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import answer_cost
from tests.ports import free_port

CHAT = "/v1/local/default/openai/chat/completions"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    output: Path  # its stdout and stderr, for a failure's message


@pytest.fixture
def replicas(fake: FakeOpenAI, postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATABASE_URL": postgres_url,
        "SLUICEGATE_CACHE_URL": redis_url,
        "SLUICEGATE_UPSTREAM_OPENAI": fake.base_url,
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SLUICEGATE_DATA": str(tmp_path / "unused"),
    }
    started = []
    for number in range(3):
        port = free_port()
        command = [sys.executable, "-m", "sluicegate", "serve", "--port", str(port)]
        output = tmp_path / f"replica-{number}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        started.append(Replica(process, f"http://127.0.0.1:{port}", output))
    try:
        for replica in started:
            wait_until_up(replica)
        yield started
    finally:
        stop(started)


def wait_until_up(replica: Replica) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(replica.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert replica.process.poll() is None, (
            f"a replica exited at start:\n{replica.output.read_text()[-3000:]}"
        )
        assert time.monotonic() < deadline, "a replica did not start"
        time.sleep(0.05)


def stop(started: list[Replica]) -> None:
    for replica in started:
        if replica.process.poll() is None:
            replica.process.terminate()
    for replica in started:
        replica.process.wait(timeout=30)


def body(text: str, stream: bool = False) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "stream": stream}


def all_log_ids(url: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            url + "/api/v1/accounts/local/gateways/default/logs", params=params, headers=ADMIN
        ).json()
        ids += [record["id"] for record in page["result"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def wait_for_ids(url: str, expected: set[str]) -> list[str]:
    deadline = time.monotonic() + 15
    while True:
        ids = all_log_ids(url)
        if expected <= set(ids) or time.monotonic() > deadline:
            return ids
        time.sleep(0.1)


async def mixed_load(urls: list[str]) -> list[httpx.Response]:
    """60 distinct questions (a third streamed) and 30 repeats of a cached one, across `urls`."""
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
        misses = [
            client.post(urls[n % 3] + CHAT, json=body(f"question {n}", stream=n % 3 == 0)) for n in range(60)
        ]
        hits = [client.post(urls[n % 3] + CHAT, json=body("shared question")) for n in range(30)]
        return await asyncio.gather(*misses, *hits)


def test_replicas_share_limits_cache_logs_and_tokens(replicas: list[Replica], fake: FakeOpenAI) -> None:
    one, two, three = (replica.url for replica in replicas)
    settings = {"cache_enabled": True, "rate_limits": [{"limit": 30, "period": 3600, "technique": "sliding"}]}
    patched = httpx.patch(
        one + "/api/v1/accounts/local/gateways/default", json={"settings": settings}, headers=ADMIN
    )
    assert patched.status_code == 200

    # A cache entry written through replica one is a hit through replica two.
    first = httpx.post(one + CHAT, json=body("shared question"))
    second = httpx.post(two + CHAT, json=body("shared question"))
    assert (first.headers["cf-aig-cache-status"], second.headers["cf-aig-cache-status"]) == ("MISS", "HIT")

    answers = asyncio.run(mixed_load([one, two, three]))
    statuses = [answer.status_code for answer in answers[:60]]
    assert statuses.count(200) == 29  # one global limit of 30; the first miss used one
    assert statuses.count(429) == 31
    assert all(answer.status_code == 200 for answer in answers[60:])  # hits are never refused
    assert {answer.headers["cf-aig-cache-status"] for answer in answers[60:]} == {"HIT"}
    assert len(fake.requests) == 30

    # Every request is logged exactly once, whichever replica served it.
    expected = {first.headers["cf-aig-log-id"], second.headers["cf-aig-log-id"]}
    expected |= {answer.headers["cf-aig-log-id"] for answer in answers}
    ids = wait_for_ids(three, expected)
    assert len(ids) == len(set(ids)) == len(expected) == 92
    assert set(ids) == expected

    # A token revoked through replica three is refused by replica one within a second.
    created = httpx.post(
        one + "/api/v1/accounts/local/tokens", json={"name": "t", "scopes": ["read"]}, headers=ADMIN
    )
    token = {"Authorization": f"Bearer {created.json()['token']}"}
    assert httpx.get(one + "/api/v1/whoami", headers=token).status_code == 200
    revoked = httpx.delete(three + f"/api/v1/accounts/local/tokens/{created.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 204
    revoked_at = time.monotonic()
    while httpx.get(one + "/api/v1/whoami", headers=token).status_code == 200:
        assert time.monotonic() - revoked_at < 1.2, "replica one still accepts a token revoked through three"
        time.sleep(0.05)


async def test_stopping_a_replica_mid_load_loses_no_answered_request(replicas: list[Replica]) -> None:
    victim, survivor = replicas[1], replicas[0]
    answered: list[str] = []
    twenty = asyncio.Event()

    async def load(client: httpx.AsyncClient, n: int) -> None:
        try:
            answer = await client.post(victim.url + CHAT, json=body(f"load {n}"))
        except httpx.TransportError:
            return  # never answered: nothing to find in the logs
        answered.append(answer.headers["cf-aig-log-id"])
        if len(answered) >= 20:
            twenty.set()

    # A request sent as the victim stops may get no answer until the client gives up (and the victim
    # waits for it before exiting); it counts as never answered, so waiting 30 s for it proves nothing.
    async with httpx.AsyncClient(timeout=5) as client:
        tasks = [asyncio.create_task(load(client, n)) for n in range(200)]
        await twenty.wait()
        victim.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*tasks)
    assert await asyncio.to_thread(victim.process.wait, 30) == 0
    assert len(answered) >= 20
    ids = set(await asyncio.to_thread(wait_for_ids, survivor.url, set(answered)))
    assert set(answered) <= ids


async def test_replicas_share_one_budget_under_concurrent_load(
    replicas: list[Replica], fake: FakeOpenAI
) -> None:
    """50 simultaneous requests spread over three processes against a budget worth 10 answers: the
    reservations in Redis let at most 10 through, and what they spent stays within the budget."""
    words = " ".join(f"w{n}" for n in range(40))  # 46 prompt tokens; the answer is cut at 30
    budget = 10.5 * answer_cost(output_tokens=30, input_tokens=46)
    settings = {"rate_limits": [{"limit": budget, "period": 3600, "unit": "cost"}]}
    patched = httpx.patch(
        replicas[0].url + "/api/v1/accounts/local/gateways/default",
        json={"settings": settings},
        headers=ADMIN,
    )
    assert patched.status_code == 200
    clients = [
        openai.AsyncOpenAI(base_url=f"{r.url}/v1/local/default/openai", api_key="sk-test", max_retries=0)
        for r in replicas
    ]

    async def one(n: int) -> str | None:
        try:
            answer = await clients[n % len(clients)].chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": words}], max_tokens=30
            )
        except openai.RateLimitError:
            return None
        return answer.headers["cf-aig-log-id"]

    try:
        answered = [log_id for log_id in await asyncio.gather(*(one(n) for n in range(50))) if log_id]
    finally:
        for client in clients:
            await client.close()
    assert 1 <= len(answered) <= 10
    assert len(fake.requests) == len(answered)
    ids = set(await asyncio.to_thread(wait_for_ids, replicas[2].url, set(answered)))
    assert set(answered) <= ids
