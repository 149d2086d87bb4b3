"""The `cf-aig-custom-cost` forms Cloudflare's `AIGatewayHeaders` type allows besides both per-token
prices (`{per_token_in?, per_token_out?} | {total_cost?}`), and the log's `custom_cost` flag. The
official OpenAI SDK against the fake OpenAI; the official Cloudflare SDK reads the log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from cloudflare import Cloudflare

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "When is Cloudflare's Birthday Week?"}]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def asked(client: openai.OpenAI, cost: dict[str, float] | None) -> str:
    """The log id of one question (always the same), sent with `cost` as its custom cost."""
    headers = {} if cost is None else {"cf-aig-custom-cost": json.dumps(cost)}
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers
    )
    assert raw.status_code == 200
    return raw.headers["cf-aig-log-id"]


def costs(gateway: RunningGateway, ids: list[str]) -> list[float]:
    by_id = {record["id"]: record["cost_usd"] for record in gateway.wait_for_logs(len(ids))}
    return [by_id[log_id] for log_id in ids]


def test_a_total_cost_is_the_requests_cost_and_the_log_says_a_custom_cost_applied(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    ids = [asked(client, {"total_cost": 0.5}), asked(client, None)]
    total, listed = costs(gateway, ids)
    assert total == 0.5
    assert 0 < listed < 0.5
    with Cloudflare(api_token=ADMIN_TOKEN, base_url=gateway.url + "/client/v4", max_retries=0) as cf:
        shown = [cf.ai_gateway.logs.get(log_id, account_id="local", gateway_id="default") for log_id in ids]
    assert [(log.cost, log.custom_cost) for log in shown] == [(0.5, True), (listed, False)]


def test_a_side_the_header_leaves_out_keeps_the_list_price(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    ids = [
        asked(client, None),
        asked(client, {"per_token_in": 0}),  # the output at the list price
        asked(client, {"per_token_out": 0}),  # the input at the list price
        asked(client, {"per_token_in": 0.001}),
    ]
    listed, output_side, input_side, priced_in = costs(gateway, ids)
    assert min(output_side, input_side) > 0
    assert output_side + input_side == pytest.approx(listed, rel=1e-9)
    tokens_in = next(r["tokens_in"] for r in gateway.logs() if r["id"] == ids[3])
    assert priced_in == pytest.approx(tokens_in * 0.001 + output_side, rel=1e-9)
