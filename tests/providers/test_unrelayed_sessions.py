"""Which requests open a realtime session the provider serves the client directly, or mint a key
for one (`RequestFacts.relayed_instead`), and the relayed session's path that stands in for each:
OpenAI's and Azure OpenAI's, declared by their adapters."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.providers.azure_openai import AZURE_OPENAI
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI, OpenAICompatible

BODY = orjson.dumps({"session": {"type": "realtime", "model": "gpt-realtime"}})
CASES = [
    (OPENAI, "realtime/client_secrets", "realtime"),
    (OPENAI, "realtime/sessions", "realtime"),
    (OPENAI, "realtime/transcription_sessions/", "realtime"),
    (OPENAI, "realtime/calls", "realtime"),
    (OPENAI, "v1/realtime/sessions", "v1/realtime"),
    (OPENAI, "realtime", None),
    (OPENAI, "chat/completions", None),
    (OPENAI, "realtime/calls/rtc_1/hangup", None),
    (OPENAI, "my_realtime/sessions", None),
    (AZURE_OPENAI, "res/openai/v1/realtime/client_secrets", "res/openai/v1/realtime"),
    (AZURE_OPENAI, "res/openai/realtimeapi/sessions", "res/openai/realtime"),
    (AZURE_OPENAI, "res/openai/v1/realtime/calls", "res/openai/v1/realtime"),
    (AZURE_OPENAI, "res/deployment/chat/completions", None),
]


@pytest.mark.parametrize(("provider", "path", "relay"), CASES)
def test_the_adapter_names_the_relayed_session_that_stands_in(
    provider: OpenAICompatible, path: str, relay: str | None
) -> None:
    assert provider.read_request(Route("local", path), BODY).relayed_instead == relay
