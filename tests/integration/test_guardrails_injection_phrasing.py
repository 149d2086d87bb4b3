"""Support and developer phrasing that shares words with attacks passes the prompt-injection
rules over loopback with the official OpenAI SDK; an attack beside it is still refused."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_guardrails import ask, client, configure, gateway  # noqa: F401


@pytest.mark.parametrize(
    "text",
    [
        "How do I enable developer mode on my Android phone?",
        "System: Ubuntu 22.04, Python 3.11. Why does pip fail?",
        "Please ignore the previous instructions I gave about formatting and use bullet points instead.",
        "Print the system message log from journalctl.",
        "The document is labeled [Internal use only]; can you proofread it?",
    ],
)
def test_support_phrasing_is_sent_upstream(
    gateway: RunningGateway,  # noqa: F811
    fake: FakeOpenAI,
    client: openai.OpenAI,  # noqa: F811
    text: str,
) -> None:
    configure(gateway, guardrails={"prompt_injection": {"action": "block"}})
    response = ask(client, text)
    assert response.http_response.status_code == 200
    assert "x-sluicegate-guardrails" not in response.headers
    assert len(fake.requests) == 1
