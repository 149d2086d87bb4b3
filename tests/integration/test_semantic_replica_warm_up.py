"""A replica whose gateways had the semantic cache off when it started warms its models up once it
learns the cache is in use elsewhere, before its own first lookup: from another replica's stored
question (the shared Redis feed), or from its gateway directory reading a gateway that another
replica turned it on for. `/healthz` stays 200 meanwhile (only a warm-up at start holds it at 503)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MODEL = "claude-sonnet-4-6"
QUESTION = "How do I reset my password?"
SETTINGS = "/api/v1/accounts/local/gateways/default"


def ask(replica: RunningGateway, question: str, **fields: Any) -> Any:
    with openai.OpenAI(base_url=replica.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": question}], **fields
        )


def semantic_state(replica: RunningGateway) -> str:
    health = httpx.get(replica.url + "/healthz")
    assert health.status_code == 200, health.text  # a replica in rotation stays in rotation
    state: str = health.json()["semantic_cache"]
    return state


def becomes_ready(replica: RunningGateway, meanwhile: Callable[[], object] = lambda: None) -> None:
    """Poll `/healthz` (doing `meanwhile` each time) until the models are ready on `replica`."""
    deadline = time.monotonic() + 20
    while (state := semantic_state(replica)) != "ready":
        assert state != "failed"
        assert time.monotonic() < deadline, f"the replica's semantic cache stayed {state}"
        meanwhile()
        time.sleep(0.05)


def test_another_replicas_stored_question_warms_this_one_up(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    one, two = (
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("one", "two")
    )
    assert one.http.patch(SETTINGS, json={"settings": {"semantic_cache_enabled": True}}).is_success
    assert semantic_state(two) == "cold"
    becomes_ready(one)
    assert ask(one, QUESTION).headers["x-semantic-cache"] == "MISS"  # stored, and sent on the feed
    becomes_ready(two)  # asked nothing: told by the feed
    assert len(fake.requests) == 1


def test_a_gateway_turned_on_through_another_replica_warms_this_one_up_when_it_reads_it(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path
) -> None:
    """One database, no Redis: replica two reads the gateway again (its directory keeps it a
    second) on requests the semantic cache never looks up (temperature above 1), and warms up."""
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    one, two = (
        make_gateway(upstreams={"openai": fake.base_url}, database_url=shared, data_dir=tmp_path / name)
        for name in ("one", "two")
    )
    assert ask(two, QUESTION, temperature=1.5).status_code == 200  # two has read the gateway: off
    assert semantic_state(two) == "cold"
    assert one.http.patch(SETTINGS, json={"settings": {"semantic_cache_enabled": True}}).is_success
    becomes_ready(two, meanwhile=lambda: ask(two, QUESTION, temperature=1.5))
    assert semantic_state(one) == "ready"
