"""Replicate's asynchronous predictions through the gateway, polled by the official `replicate` client.

A prediction created without `Prefer: wait` answers "starting"; the client's `wait()` polls
`GET /v1/predictions/{id}` until it is finished (the fake: "processing", then "succeeded" with the
token counts). The poll that sees it finished names no model in its path: its model is the
prediction's own `model`, so it is priced and logged. Every later read of the finished prediction
(another poll, a `get`, after a `Prefer: wait` create) reports the same tokens again: the gateway
counts them once, the later records show 0 tokens and which record counted them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
import replicate
from httpx import HTTPTransport  # the replicate client's HTTP library (not the project's httpx2)

from tests.conftest import RunningGateway
from tests.fakes.replicate_server import FakeReplicate

MODEL = "meta/meta-llama-3-8b-instruct"
PROMPT = "what is the capital of France"  # 6 tokens in, 7 out ("echo: what is the capital of France")
KEY = "r8_secret0123456789abcdef"
TOKEN_RULE = {"name": "tokens", "limit": 100_000, "period": 3600, "unit": "tokens"}


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(api_key=KEY, polls=2).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeReplicate) -> RunningGateway:
    gateway = make_gateway(upstreams={"replicate": fake.base_url})
    gateway.configure(rate_limits=[TOKEN_RULE])
    return gateway


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[replicate.Client]:
    transport = HTTPTransport()
    sdk = replicate.Client(api_token=KEY, base_url=gateway.provider_url("replicate"), transport=transport)
    sdk.poll_interval = 0.01  # the SDK waits 0.5 s between polls by default
    yield sdk
    transport.close()


def by_endpoint(records: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    return sorted((r for r in records if r["endpoint"] == endpoint), key=lambda r: r["id"])


def tokens_used(gateway: RunningGateway) -> float:
    """What the gateway's token rule has counted (the budget's `used`, from the counters)."""
    response = gateway.http.get("/api/v1/accounts/local/spend", params={"by": "model"})
    assert response.status_code == 200, response.text
    [budget] = response.json()["budgets"]
    used: float = budget["used"]
    return used


def test_the_poll_that_sees_it_finished_is_priced_and_later_reads_count_nothing(
    gateway: RunningGateway, fake: FakeReplicate, client: replicate.Client
) -> None:
    prediction = client.predictions.create(model=MODEL, input={"prompt": PROMPT})
    assert prediction.status == "starting"
    prediction.wait()
    assert (prediction.status, "".join(prediction.output)) == ("succeeded", "echo: " + PROMPT)
    again = client.predictions.get(prediction.id)  # the finished prediction, read twice more
    client.predictions.get(prediction.id)
    assert again.metrics is not None
    assert (again.metrics["input_token_count"], again.metrics["output_token_count"]) == (6, 7)
    records = gateway.wait_for_logs(5)
    polls = by_endpoint(records, f"v1/predictions/{prediction.id}")
    assert [r["status"] for r in polls] == [200] * 4
    processing, finished, *later = polls
    # Every read is logged under the prediction's model, which only its answer names.
    assert {r["model"] for r in polls} == {MODEL}
    assert (processing["tokens_in"], processing["tokens_out"], processing["cost_usd"]) == (0, 0, 0)
    assert (finished["tokens_in"], finished["tokens_out"], finished["unpriced"]) == (6, 7, False)
    assert finished["cost_usd"] > 0
    assert "usage_counted_in" not in finished["metadata"]
    for record in later:
        assert (record["tokens_in"], record["tokens_out"], record["cost_usd"]) == (0, 0, 0)
        assert record["metadata"]["usage_counted_in"] == finished["id"]
        assert record["metadata"]["usage_job"] == prediction.id
    assert sum(r["tokens_in"] + r["tokens_out"] for r in records) == 13
    assert tokens_used(gateway) == 13  # the budget counted the tokens once too


def test_a_prediction_created_finished_is_not_counted_again_when_read(
    gateway: RunningGateway, client: replicate.Client
) -> None:
    prediction = client.models.predictions.create(model=MODEL, input={"prompt": PROMPT}, wait=True)
    assert prediction.status == "succeeded"
    client.predictions.get(prediction.id)
    records = gateway.wait_for_logs(2)
    [create] = by_endpoint(records, f"v1/models/{MODEL}/predictions")
    [read] = by_endpoint(records, f"v1/predictions/{prediction.id}")
    assert (create["tokens_in"], create["tokens_out"]) == (6, 7)
    assert create["cost_usd"] > 0
    assert (read["model"], read["tokens_in"], read["tokens_out"], read["cost_usd"]) == (MODEL, 0, 0, 0)
    assert read["metadata"]["usage_counted_in"] == create["id"]
    assert tokens_used(gateway) == 13


def test_a_read_through_another_gateway_does_not_take_this_gateways_spend(
    gateway: RunningGateway, client: replicate.Client
) -> None:
    """One Replicate key behind two gateways: a read of the finished prediction through the other
    gateway first must not make this gateway's own poll count nothing (nor name the other's log)."""
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "other"}).status_code == 201
    prediction = client.predictions.create(model=MODEL, input={"prompt": PROMPT})
    transport = HTTPTransport()
    other = replicate.Client(
        api_token=KEY, base_url=gateway.provider_url("replicate", gateway="other"), transport=transport
    )
    other.poll_interval = 0.01
    try:
        elsewhere = other.predictions.get(prediction.id)
        elsewhere.wait()
        assert elsewhere.status == "succeeded"
    finally:
        transport.close()
    mine = client.predictions.get(prediction.id)
    assert mine.status == "succeeded"
    records = gateway.wait_for_logs(2)  # this gateway's create and read (the other's are its own)
    assert {r["gateway"] for r in records} == {"default"}
    [read] = by_endpoint(records, f"v1/predictions/{prediction.id}")
    assert (read["tokens_in"], read["tokens_out"]) == (6, 7)
    assert "usage_counted_in" not in read["metadata"]
    assert tokens_used(gateway) == 13  # the default gateway's token rule counted its own read


def test_a_cancel_reaches_replicate_without_a_content_type_it_was_not_sent(
    gateway: RunningGateway, fake: FakeReplicate, client: replicate.Client
) -> None:
    prediction = client.predictions.create(model=MODEL, input={"prompt": PROMPT})
    canceled = client.predictions.cancel(prediction.id)
    assert canceled.status == "canceled"
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/v1/predictions/{prediction.id}/cancel")
    assert sent.header("content-length") == "0"
    assert sent.header("content-type") is None
    records = gateway.wait_for_logs(2)
    [cancel] = by_endpoint(records, f"v1/predictions/{prediction.id}/cancel")
    assert cancel["model"] == MODEL  # from the canceled prediction


def test_replicas_sharing_redis_count_a_finished_prediction_once(
    make_gateway: Callable[..., RunningGateway], fake: FakeReplicate, redis_url: str
) -> None:
    one, two = (make_gateway(upstreams={"replicate": fake.base_url}, cache_url=redis_url) for _ in range(2))
    auth = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(
        f"{one.provider_url('replicate')}/models/{MODEL}/predictions",
        json={"input": {"prompt": PROMPT}},
        headers={**auth, "Prefer": "wait"},
        timeout=10,
    )
    assert created.json()["status"] == "succeeded"
    first_id = created.headers["cf-aig-log-id"]
    # The creation's record is written once its usage is counted (or not): the read comes after it.
    # (An answer can precede its counting: a replica's first price lookup is measured off the loop.)
    # (The replicas may share a database: each waits for its own record, by its status.)
    [first] = [r for r in one.wait_for_logs(1, status="201") if r["id"] == first_id]
    read = httpx.get(f"{two.provider_url('replicate')}/predictions/{created.json()['id']}", headers=auth)
    assert read.status_code == 200
    second_id = read.headers["cf-aig-log-id"]
    [second] = [r for r in two.wait_for_logs(1, status="200") if r["id"] == second_id]
    assert (first["tokens_in"], first["tokens_out"]) == (6, 7)
    assert (second["model"], second["tokens_in"], second["tokens_out"]) == (MODEL, 0, 0)
    assert second["metadata"]["usage_counted_in"] == first_id
