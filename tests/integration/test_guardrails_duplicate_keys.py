"""A body the guardrails read that repeats a key in one object is refused, naming the key and where
it is: the guardrails (orjson) read the last value, a provider may read the first, and the body
goes upstream as the client sent it. Over loopback against the fake OpenAI upstream, with raw
HTTP bodies (no SDK writes a key twice)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

CARD = "4111 1111 1111 1111"
BLOCK = {"pii": {"action": "block", "entities": ["credit_card"]}}
HEADERS = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
CARDED = f'[{{"role": "user", "content": "card {CARD}"}}]'
CLEAN = '[{"role": "user", "content": "hi"}]'


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def post(gateway: RunningGateway, path: str, body: str) -> httpx.Response:
    url = f"{gateway.provider_url('openai')}/{path}"
    return httpx.post(url, content=body.encode(), headers=HEADERS, timeout=10)


def stored(gateway: RunningGateway) -> dict[str, Any]:
    record = gateway.wait_for_logs(2)[0]  # the latest
    detail: dict[str, Any] = gateway.http.get(
        f"/api/v1/accounts/local/gateways/default/logs/{record['id']}"
    ).json()
    return detail


@pytest.mark.parametrize(
    ("body", "key", "param"),
    [
        # The card in the first `messages`, which a first-key-wins provider reads.
        (f'{{"model": "gpt-4o-mini", "messages": {CARDED}, "messages": {CLEAN}}}', "messages", "messages"),
        (
            f'{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "card {CARD}", '
            '"content": "hi"}]}',
            "content",
            "messages[0].content",
        ),
    ],
)
def test_a_repeated_key_is_refused_naming_it_and_nothing_goes_upstream(
    gateway: RunningGateway, fake: FakeOpenAI, body: str, key: str, param: str
) -> None:
    assert post(gateway, "chat/completions", body).status_code == 200  # no guardrails: as it came
    assert [request.body.decode() for request in fake.requests] == [body]
    fake.clear()
    gateway.configure(guardrails=BLOCK)
    refused = post(gateway, "chat/completions", body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["key"], error["param"]) == ("duplicate_json_key", key, param)
    assert param in error["message"]
    assert "4111" not in refused.text
    assert fake.requests == []
    assert "4111" not in str(stored(gateway))  # the body, which was not read, is not kept
    # The same key in different objects is no repeat.
    turns = '[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]'
    assert (
        post(gateway, "chat/completions", f'{{"model": "gpt-4o-mini", "messages": {turns}}}').status_code
        == 200
    )
