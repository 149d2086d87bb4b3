"""Replicate predictions no client reads again, finished: the gateway reads them itself.

The official client's `stream()` creates a prediction (`starting`, 0 tokens) and reads its output
stream from Replicate directly (`urls.stream`): it never reads the prediction again, which is the
only answer that reports its tokens. Nor does a client that takes a webhook. The gateway reads such
a prediction until it has finished (pipeline/jobs.py: 1 s after the answer, then backing off) with
the create's credentials, and counts its tokens as a client's read would, once: a client's read
that comes first leaves the gateway nothing to read, one that comes after counts nothing.
"""

# ruff: noqa: F811  (the fixtures are test_replicate_polls')

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
import replicate

from tests.conftest import RunningGateway
from tests.fakes.replicate_server import FakeReplicate
from tests.integration.test_replicate_polls import KEY, PROMPT, TOKEN_RULE, client, gateway  # noqa: F401

MODEL = "meta/meta-llama-3-8b-instruct"
ANSWER = "echo: " + PROMPT  # 6 tokens in, 7 out
WATCHED = "sluicegate_jobs_read"
READ_WAIT_S = 20.0  # the gateway's reads come 1 s after the answer, then 2 s after the one before


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(api_key=KEY).serve() as server:
        yield server


def tokens_used(gateway: RunningGateway) -> float:
    """What the gateway's token rule has counted (the budget's `used`, from the counters)."""
    response = gateway.http.get("/api/v1/accounts/local/spend", params={"by": "model"})
    assert response.status_code == 200, response.text
    [budget] = response.json()["budgets"]
    used: float = budget["used"]
    return used


def read_by_gateway(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["metadata"].get("usage_read_by") == "gateway"]


def wait_until(check: Callable[[], bool], timeout: float = READ_WAIT_S) -> bool:
    """Poll `check` until it holds (True) or `timeout` passes (False), as `wait_for_logs` does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def watched(gateway: RunningGateway) -> float:
    """The gateway's gauge of the predictions it is reading."""
    text = gateway.http.get("/metrics").text
    [line] = [line for line in text.splitlines() if line.startswith(WATCHED + " ")]
    return float(line.split()[1])


def gets_of(fake: FakeReplicate, prediction_id: str) -> list[Any]:
    return [r for r in fake.requests if (r.method, r.path) == ("GET", f"/v1/predictions/{prediction_id}")]


def test_a_stream_through_the_official_client_ends_with_its_tokens_in_the_logs(
    gateway: RunningGateway, fake: FakeReplicate, client: replicate.Client
) -> None:
    assert "".join(str(event) for event in client.stream(MODEL, input={"prompt": PROMPT})) == ANSWER
    records = gateway.wait_for_logs(2, timeout=READ_WAIT_S)
    [create] = [r for r in records if r["method"] == "POST"]
    [read] = read_by_gateway(records)
    assert (create["tokens_in"], create["tokens_out"], create["cost_usd"]) == (0, 0, 0)
    # The finished prediction's metrics, priced under its model, as a client's read is.
    assert (read["method"], read["status"], read["model"]) == ("GET", 200, MODEL)
    assert (read["tokens_in"], read["tokens_out"], read["usage_estimated"]) == (6, 7, False)
    assert read["cost_usd"] > 0
    assert read["metadata"]["usage_read_for"] == create["id"]
    prediction_id = read["endpoint"].removeprefix("predictions/")
    # Read with the create's credentials, and nothing else of its request.
    [sent] = gets_of(fake, prediction_id)
    assert sent.header("authorization") == f"Bearer {KEY}"
    assert (sent.header("prefer"), sent.header("content-type")) == (None, None)
    assert tokens_used(gateway) == 13  # the budget counted them


def test_a_prediction_no_client_reads_again_is_counted_once_it_has_finished(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    with FakeReplicate(api_key=KEY, polls=2).serve() as fake:  # the gateway's first read: processing
        gateway = make_gateway(upstreams={"replicate": fake.base_url})
        gateway.configure(rate_limits=[TOKEN_RULE])
        created = httpx.post(
            f"{gateway.provider_url('replicate')}/models/{MODEL}/predictions",
            json={"input": {"prompt": PROMPT}, "webhook": "https://example.com/hook"},
            headers={"Authorization": f"Token {KEY}", "cf-aig-metadata": '{"user": "ada"}'},
            timeout=10,
        )
        assert (created.status_code, created.json()["status"]) == (201, "starting")
        records = gateway.wait_for_logs(2, timeout=READ_WAIT_S)
        [read] = read_by_gateway(records)
        assert read["endpoint"] == f"predictions/{created.json()['id']}"
        assert (read["tokens_in"], read["tokens_out"]) == (6, 7)
        assert read["cost_usd"] > 0
        # The create's own metadata stays with its usage (analytics by metadata, scoped rules).
        assert read["metadata"]["user"] == "ada"
        assert read["metadata"]["usage_read_for"] == created.headers["cf-aig-log-id"]
        assert [r.header("authorization") for r in gets_of(fake, created.json()["id"])] == [
            f"Token {KEY}"
        ] * 2
        assert tokens_used(gateway) == 13


@pytest.mark.parametrize("counters", ["in-process", "redis"])
def test_a_prediction_read_into_a_budget_already_full_is_counted_there_too(
    make_gateway: Callable[..., RunningGateway], counters: str, request: pytest.FixtureRequest
) -> None:
    """Both predictions ran, admitted while the budget had room: the second read's tokens count
    although the first filled the budget (13 of 13), so the budget shows what was spent."""
    cache_url = request.getfixturevalue("redis_url") if counters == "redis" else None
    with FakeReplicate(api_key=KEY, polls=2).serve() as fake:  # each read first finds it processing
        shared = {"cache_url": cache_url} if cache_url else {}
        gateway = make_gateway(upstreams={"replicate": fake.base_url}, **shared)
        gateway.configure(rate_limits=[{**TOKEN_RULE, "limit": 13}])
        for created_so_far in (1, 2):
            created = httpx.post(
                f"{gateway.provider_url('replicate')}/models/{MODEL}/predictions",
                json={"input": {"prompt": PROMPT}, "webhook": "https://example.com/hook"},
                headers={"Authorization": f"Token {KEY}"},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            gateway.wait_for_logs(created_so_far)  # its reservation settled (0 tokens: starting)
        records = gateway.wait_for_logs(4, timeout=READ_WAIT_S)
        assert [(r["tokens_in"], r["tokens_out"]) for r in read_by_gateway(records)] == [(6, 7)] * 2
        assert tokens_used(gateway) == 26


def test_a_client_reading_after_the_gateway_counts_nothing_again(
    gateway: RunningGateway, client: replicate.Client
) -> None:
    prediction = client.predictions.create(model=MODEL, input={"prompt": PROMPT})
    [read] = read_by_gateway(gateway.wait_for_logs(2, timeout=READ_WAIT_S))
    again = client.predictions.get(prediction.id)
    assert again.status == "succeeded"
    records = gateway.wait_for_logs(3)
    [mine] = [r for r in records if r["endpoint"] == f"v1/predictions/{prediction.id}"]
    assert (read["tokens_in"], read["tokens_out"]) == (6, 7)
    assert (mine["tokens_in"], mine["tokens_out"], mine["cost_usd"]) == (0, 0, 0)
    assert mine["metadata"]["usage_counted_in"] == read["id"]
    assert sum(r["tokens_in"] + r["tokens_out"] for r in records) == 13
    assert tokens_used(gateway) == 13


def test_a_client_that_polled_first_leaves_the_gateway_nothing_to_read(
    gateway: RunningGateway, fake: FakeReplicate, client: replicate.Client
) -> None:
    prediction = client.predictions.create(model=MODEL, input={"prompt": PROMPT})
    assert watched(gateway) == 1  # handed to the reads as its answer completed
    prediction.wait()  # the client's own poll finds it finished, and counts it
    assert prediction.status == "succeeded"
    # The gateway's read, due 1 s after the answer, finds it counted, and ends without reading.
    assert wait_until(lambda: watched(gateway) == 0)
    assert len(gets_of(fake, prediction.id)) == 1  # the client's
    records = gateway.wait_for_logs(2)
    assert len(records) == 2
    assert read_by_gateway(records) == []
    assert sum(r["tokens_in"] + r["tokens_out"] for r in records) == 13
    assert tokens_used(gateway) == 13


def test_a_stop_does_not_wait_for_a_read_on_its_way(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    # The create is answered at once (`x-fake-behavior` wins over the model's name); each read of
    # the prediction (no such header) acts out the model's name: it waits a minute.
    with FakeReplicate(api_key=KEY).serve() as fake:
        gateway = make_gateway(upstreams={"replicate": fake.base_url})
        created = httpx.post(
            f"{gateway.provider_url('replicate')}/models/fake/slow-60000/predictions",
            json={"input": {"prompt": PROMPT}},
            headers={"Authorization": f"Bearer {KEY}", "x-fake-behavior": "answer"},
            timeout=10,
        )
        assert (created.status_code, created.json()["status"]) == (201, "starting")
        assert wait_until(lambda: len(gets_of(fake, created.json()["id"])) == 1)  # the read is on its way
        started = time.monotonic()
        gateway.server.stop()
        assert time.monotonic() - started < 5  # a part that waited would hold the stop 10 s


def test_a_poll_through_another_replica_leaves_this_one_nothing_to_read(
    make_gateway: Callable[..., RunningGateway], fake: FakeReplicate, redis_url: str
) -> None:
    """The counted-once claims are in Redis: the replica that relayed the create asks there before
    reading, and finds the other replica's read counted the prediction."""
    one, two = (make_gateway(upstreams={"replicate": fake.base_url}, cache_url=redis_url) for _ in range(2))
    auth = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(
        f"{one.provider_url('replicate')}/models/{MODEL}/predictions",
        json={"input": {"prompt": PROMPT}},
        headers=auth,
        timeout=10,
    )
    prediction_id = created.json()["id"]
    assert watched(one) == 1
    read = httpx.get(f"{two.provider_url('replicate')}/predictions/{prediction_id}", headers=auth, timeout=10)
    assert read.json()["status"] == "succeeded"
    # (The replicas may share a database: each waits for its own record, by its id.)
    [counted] = [r for r in two.wait_for_logs(1, status="200") if r["id"] == read.headers["cf-aig-log-id"]]
    assert (counted["tokens_in"], counted["tokens_out"]) == (6, 7)
    assert wait_until(lambda: watched(one) == 0)
    assert len(gets_of(fake, prediction_id)) == 1  # replica two's


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
def test_a_worker_of_several_reads_predictions_only_where_they_count_once_for_all(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeReplicate,
    request: pytest.FixtureRequest,
    shared: bool,
) -> None:
    """Under `serve --workers 2` without Redis, a client's poll that reaches the other worker counts
    the prediction there, which this one cannot know: it reads none. With Redis, it does."""
    cache_url = request.getfixturevalue("redis_url") if shared else ""
    gateway = make_gateway(upstreams={"replicate": fake.base_url}, workers=2, cache_url=cache_url)
    created = httpx.post(
        f"{gateway.provider_url('replicate')}/models/{MODEL}/predictions",
        json={"input": {"prompt": PROMPT}},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert (created.status_code, created.json()["status"]) == (201, "starting")
    assert watched(gateway) == (1 if shared else 0)  # decided as its answer completed
