"""Guardrails on Gemini's generateContent, with the google-genai SDK: request text redacted and
restored, and a streamed answer's text redacted as it passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

API_KEY = "AIzaSy-fake-0123456789abcdefghijklmnop"
MODEL = "gemini-2.5-flash"
CARD = "4111 1111 1111 1111"
EMAIL = "carol@example.net"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with genai.Client(api_key=API_KEY, http_options=options) as sdk:
        yield sdk


def configure(gateway: RunningGateway, guardrails: dict[str, object]) -> None:
    response = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"guardrails": guardrails}}
    )
    assert response.status_code == 200, response.text


def test_request_text_is_redacted_and_restored(
    gateway: RunningGateway, fake: FakeGemini, client: genai.Client
) -> None:
    configure(gateway, {"pii": {"action": "redact", "entities": ["email"]}, "restore": True})
    answer = client.models.generate_content(model=MODEL, contents=f"write to {EMAIL}")
    sent = fake.requests[0].body.decode()
    assert "[EMAIL_1]" in sent
    assert EMAIL not in sent
    assert answer.text == f"echo: write to {EMAIL}"


def test_a_streamed_card_is_redacted(gateway: RunningGateway, client: genai.Client) -> None:
    configure(gateway, {"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}})
    pieces = [
        chunk.text or ""
        for chunk in client.models.generate_content_stream(model=MODEL, contents=f"card {CARD} ok")
    ]
    assert "".join(pieces) == "echo: card [CREDIT_CARD_1] ok"
    assert not any("4111" in piece for piece in pieces)
