"""Guardrails on Anthropic's Messages API, with the official SDK: request text redacted before it
goes upstream, and text deltas of a streamed answer redacted as they pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "claude-sonnet-4-6"
CARD = "5555 5555 5555 4444"  # Luhn-valid; the fake echoes it one group per text delta
EMAIL = "bob@example.org"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAnthropic) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    http = anthropic.DefaultHttpxClient(verify=False)
    url = gateway.provider_url("anthropic")
    with anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, http_client=http) as sdk:
        yield sdk


def configure(gateway: RunningGateway, guardrails: dict[str, object]) -> None:
    response = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"guardrails": guardrails}}
    )
    assert response.status_code == 200, response.text


def test_streamed_text_deltas_are_redacted(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, {"pii": {"action": "redact", "entities": ["credit_card", "email"]}, "restore": True})
    deltas: list[str] = []
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": f"mail {EMAIL} about card {CARD} today"}],
    ) as stream:
        deltas.extend(stream.text_stream)
        final = stream.get_final_message()
    sent = fake.requests[0].body.decode()
    assert EMAIL not in sent
    assert "5555" not in sent
    # Both were the request's own values: restored for the client, never seen upstream.
    assert "".join(deltas) == f"echo: mail {EMAIL} about card {CARD} today"
    assert final.content[0].type == "text"
    assert final.content[0].text == "".join(deltas)


def test_an_answer_revealing_a_card_is_redacted_in_the_stream(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    configure(gateway, {"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}})
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": f"card {CARD} ok"}]
    ) as stream:
        deltas = list(stream.text_stream)
    assert "".join(deltas) == "echo: card [CREDIT_CARD_1] ok"
    assert not any("5555" in delta or "4444" in delta for delta in deltas)
