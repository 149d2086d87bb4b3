"""Anthropic's Message Batches through the gateway: each batch's `results_url` is the gateway's URL
of its results, on the endpoint the client used, so the official SDK's `messages.batches.results()`
reads them through the gateway (logged, on the gateway's stored key) and not from the upstream
directly. The official `anthropic` SDK against the fake Anthropic on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "claude-sonnet-4-6"
STORED_KEY = "sk-ant-api03-stored-0123456789abcdef"
PROVIDER_KEY = "sk-ant-api03-client-0123456789abcdef"


def batch_requests(*texts: str) -> Any:
    return [
        {
            "custom_id": f"q{index}",
            "params": {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}]},
        }
        for index, text in enumerate(texts)
    ]


def sdk(base_url: str, api_key: str = PROVIDER_KEY, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=5.0,  # below the fake's 10 s pause: a gateway that waited for the whole file fails
        default_headers=headers,
        http_client=anthropic.DefaultHttpxClient(verify=False),
    )


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=STORED_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAnthropic) -> RunningGateway:
    return make_gateway(
        upstreams={"anthropic": fake.base_url},
        host_overrides={"api.anthropic.com": fake.url},
        secret_key="master-key-for-tests",
    )


def store_key_and_make_token(gateway: RunningGateway) -> str:
    gateway.configure(authentication=True)
    url = "/api/v1/accounts/local/gateways/default/provider-keys/anthropic"
    assert gateway.http.put(url, json={"key": STORED_KEY}).status_code == 201
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_the_sdk_reads_batch_results_through_the_gateway_on_its_stored_key_as_they_stream(
    gateway: RunningGateway, fake: FakeAnthropic
) -> None:
    token = store_key_and_make_token(gateway)  # the client has no Anthropic key: its token is its key
    endpoint = gateway.provider_url("anthropic")
    with sdk(endpoint, api_key=token) as client:
        created = client.messages.batches.create(requests=batch_requests("first question", "second one"))
        assert (created.processing_status, created.results_url) == ("in_progress", None)
        batch = client.messages.batches.retrieve(created.id)
        assert batch.results_url == f"{endpoint}/v1/messages/batches/{created.id}/results"
        # Line by line as it arrives (`results()` decodes in 64-byte pieces, so it would wait for
        # more than the first line): the first comes while the fake holds back the rest.
        paused = {"x-fake-behavior": "pause-stream"}
        with client.messages.batches.with_streaming_response.results(
            created.id, extra_headers=paused
        ) as answer:
            lines = answer.iter_lines()
            first = next(lines)
            assert (fake.pause().chunk_sent.is_set(), fake.pause().gate.is_set()) == (True, False)
            fake.release()
            rest = list(lines)
        assert answer.headers["content-type"] == "application/x-jsonl"
        assert [item.custom_id for item in client.messages.batches.results(created.id)] == ["q0", "q1"]
    texts = {
        line["custom_id"]: line["result"]["message"]["content"][0]["text"]
        for line in map(orjson.loads, (first, *rest))
    }
    assert texts == {"q0": "echo: first question", "q1": "echo: second one"}
    read = [r for r in fake.requests if r.path.endswith("/results")]
    assert [(r.header("x-api-key"), r.header("accept")) for r in read] == [
        (STORED_KEY, "application/binary")
    ] * 2
    records = gateway.wait_for_logs(6)
    logged = [r for r in records if r["endpoint"] == f"v1/messages/batches/{created.id}/results"]
    # Logged as the stream it is, on the stored key; no tokens (Anthropic bills a batch apart).
    assert [(r["status"], r["method"], r["stream"], r["key_name"]) for r in logged] == [
        (200, "GET", True, "default")
    ] * 2
    assert [(r["tokens_in"], r["cost_usd"]) for r in logged] == [(None, None)] * 2
    assert token not in str(records)
    assert STORED_KEY not in str(records)


def test_list_and_cancel_answers_name_the_gateways_results_url(
    gateway: RunningGateway, fake: FakeAnthropic
) -> None:
    endpoint = gateway.provider_url("anthropic")
    with sdk(endpoint, api_key=STORED_KEY) as client:
        kept = client.messages.batches.create(requests=batch_requests("kept"))
        dropped = client.messages.batches.create(requests=batch_requests("dropped"))
        canceled = client.messages.batches.cancel(dropped.id)
        listed = list(client.messages.batches.list(limit=10))
        beta = client.beta.messages.batches.retrieve(kept.id)  # `?beta=true`, the beta batch object
        outcomes = [item.result.type for item in client.messages.batches.results(dropped.id)]
        deleted = client.messages.batches.delete(kept.id)
    assert canceled.results_url == f"{endpoint}/v1/messages/batches/{dropped.id}/results"
    assert {item.id: item.results_url for item in listed} == {
        batch: f"{endpoint}/v1/messages/batches/{batch}/results" for batch in (kept.id, dropped.id)
    }
    assert beta.results_url == f"{endpoint}/v1/messages/batches/{kept.id}/results"
    assert (outcomes, deleted.type) == (["canceled"], "message_batch_deleted")
    results = f"v1/messages/batches/{dropped.id}/results"  # read through the gateway, so logged
    assert [r["status"] for r in gateway.wait_for_logs(7) if r["endpoint"] == results] == [200]


def test_host_in_path_behind_a_tls_proxy_names_the_proxys_origin_and_the_host_path(
    gateway: RunningGateway, fake: FakeAnthropic
) -> None:
    # As nginx in front says it: the client reached https://gateway.example, not this loopback port.
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gateway.example"}
    with sdk(f"{gateway.url}/api.anthropic.com", api_key=STORED_KEY, **forwarded) as client:
        created = client.messages.batches.create(requests=batch_requests("through the host"))
        batch = client.messages.batches.retrieve(created.id)
    path = f"/api.anthropic.com/v1/messages/batches/{created.id}/results"
    assert batch.results_url == f"https://gateway.example{path}"
    # That path, on the gateway, is the results.
    headers = {"x-api-key": STORED_KEY, "anthropic-version": "2023-06-01"}
    answer = httpx.get(f"{gateway.url}{path}", headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-jsonl"
    assert answer.text.count("\n") == 1
    assert '"custom_id":"q0"' in answer.text
    # A forwarded host that is no host is ignored: the Host the request came with stands.
    with sdk(
        gateway.provider_url("anthropic"), api_key=STORED_KEY, **{"X-Forwarded-Host": "evil/x"}
    ) as client:
        again = client.messages.batches.retrieve(created.id)
    assert (
        again.results_url == f"{gateway.provider_url('anthropic')}/v1/messages/batches/{created.id}/results"
    )
