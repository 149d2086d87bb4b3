"""A batch runs no model in the request that creates, reads or cancels it: its record has no model,
token usage or cost, not an estimate of 0 tokens, and not the batch's `usage` either, which is its
requests' (billed by the provider as they run, at the batch discount), reported again by every
poll. The official `openai` SDK against the fake OpenAI and Azure on loopback, which take batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.azure_server import FakeAzureOpenAI
from tests.fakes.openai_batches import BATCH_MODEL
from tests.fakes.openai_server import FakeOpenAI

AZURE_KEY = "azure-key-0123456789abcdef"
NO_USAGE = {"model": None, "tokens_in": None, "tokens_out": None, "cost_usd": None, "unpriced": False}


@pytest.fixture
def azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI(api_key=AZURE_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, azure: FakeAzureOpenAI
) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url, "azure-openai": azure.base_url})


def usage_of(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in NO_USAGE}


def test_a_batch_creation_is_logged_without_token_usage(gateway: RunningGateway) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        batch = client.batches.create(
            input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert batch.status == "validating"
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == 200
    assert (record["tokens_in"], record["tokens_out"]) == (None, None)
    assert record["usage_estimated"] is False
    assert (record["cost_usd"], record["unpriced"]) == (None, False)


def poll(client: openai.OpenAI) -> list[str]:
    """Create a batch, read it three times, list the batches, then create another and cancel it:
    the paths each request took, as the upstream saw them."""
    made = client.batches.create(
        input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
    )
    for _ in range(3):
        read = client.batches.retrieve(made.id)
        assert read.status == "completed"
        assert read.usage is not None  # what the fake's batch reports, each time
        assert (read.usage.input_tokens, read.usage.output_tokens, read.model) == (20, 8, BATCH_MODEL)
    assert [batch.id for batch in client.batches.list()] == [made.id]
    other = client.batches.create(
        input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelled = client.batches.cancel(other.id)
    assert cancelled.status == "cancelling"
    assert cancelled.usage is not None
    assert cancelled.usage.total_tokens > 0
    return ["create", "retrieve", "retrieve", "retrieve", "list", "create", "cancel"]


def test_polling_an_openai_batch_counts_its_usage_in_no_record(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        calls = poll(client)
    records = gateway.wait_for_logs(len(calls))
    assert len(records) == len(calls) == len(fake.requests)
    assert [usage_of(record) for record in records] == [NO_USAGE] * len(calls)
    totals = gateway.http.get("/api/v1/accounts/local/analytics").json()["totals"]
    assert (totals["requests"], totals["tokens_in"], totals["tokens_out"]) == (len(calls), 0, 0)


def test_polling_an_azure_batch_counts_its_usage_in_no_record(
    gateway: RunningGateway, azure: FakeAzureOpenAI
) -> None:
    # The resource's batches (`…/openai/batches?api-version=…`); Azure's answers name the model the
    # batch ran, which prices no request of the gateway's either.
    with openai.OpenAI(
        base_url=f"{gateway.provider_url('azure-openai')}/my-resource/openai",
        api_key=AZURE_KEY,
        default_query={"api-version": "2025-04-01-preview"},
        default_headers={"api-key": AZURE_KEY},
        max_retries=0,
    ) as client:
        calls = poll(client)
    records = gateway.wait_for_logs(len(calls))
    assert [request.path for request in azure.requests][:2] == [
        "/openai/batches",
        "/openai/batches/batch_fake_000001",
    ]
    assert [usage_of(record) for record in records] == [NO_USAGE] * len(calls)
