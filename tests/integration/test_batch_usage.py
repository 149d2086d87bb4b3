"""Creating a batch runs no model: its record has no token usage, not an estimate of 0 tokens.
The official `openai` SDK against a fake OpenAI on loopback that also takes batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.openai_server import CREATED, FakeOpenAI


class BatchFake(FakeOpenAI):
    """The fake OpenAI, also answering a batch's creation as OpenAI does: the batch, validating."""

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/v1/batches", self._batch)
        return app

    def _reject(self, request: web.Request, body: Any) -> web.Response | None:
        return None if request.path == "/v1/batches" else super()._reject(request, body)

    async def _batch(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return web.json_response(
            {
                "id": "batch_fake1",
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": "validating",
                "created_at": CREATED,
            }
        )


@pytest.fixture
def fake() -> Iterator[BatchFake]:
    with BatchFake().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: BatchFake) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


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
