"""Streams that end by their route's own rule, in the caches and in the log alike (`StreamEnds`):

- Cohere's v2 chat ends with its `message-end` event, its v1 streams (a JSON object a line) with
  the `stream-end` object: one whose upstream closed its body before that is neither stored (it was,
  and served as a HIT) nor logged as a success, but as broken off and billed for the text written;
  a whole one is stored and served again.
- A Gemini stream cut before its finishReason (Google AI Studio and Vertex AI, SSE or a JSON array)
  is logged as broken off, billed for what it wrote (it was logged as a success); a whole one, even
  one longer than the log keeps of a stream, is not.

Each test fails on the code before this change (a cut Cohere stream was a HIT the second time; a cut
Gemini stream's record had no error)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cohere
import httpx
import httpx2
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.cohere_server import FakeCohere
from tests.fakes.gemini_server import FakeGemini
from tests.integration.test_unmarked_stream_cache import CREDENTIALS, MODEL_PATHS

KEY = "co-0123456789abcdef"
MODEL = "command-a-03-2025"
CUT = {"x-fake-behavior": "end-mid-stream"}
# Chunks 20 ms apart, so that the gateway reads each alone: the log keeps the last one or two only.
APART = {"x-fake-behavior": "gap-20"}
QUESTION = "name the five longest rivers of Europe from the longest down"


@pytest.fixture
def co() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], co: FakeCohere, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {
        "cohere": co.base_url,
        "google-ai-studio": gemini.base_url,
        "google-vertex-ai": gemini.base_url,
    }
    gateway = make_gateway(upstreams=upstreams)
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def records(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    """The first `count` records, oldest first, once they are all written."""
    return list(reversed(gateway.wait_for_logs(count)))[:count]


def assert_broken_off(record: dict[str, Any], missing: str) -> None:
    """Logged as a stream that broke off, billed for the text it wrote (counted: estimated)."""
    assert (record["status"], record["stream"]) == (200, True)
    assert record["error"] == f"the upstream stream ended before it finished ({missing} never came)"
    assert record["tokens_out"] > 0, record
    assert record["usage_estimated"] is True


def cohere_v2_text(gateway: RunningGateway, headers: dict[str, str]) -> str:
    with (
        httpx.Client(timeout=10) as http,
        cohere.ClientV2(api_key=KEY, base_url=gateway.provider_url("cohere"), httpx_client=http) as client,
    ):
        events = client.chat_stream(
            model=MODEL,
            messages=[{"role": "user", "content": QUESTION}],
            request_options={"additional_headers": headers, "max_retries": 0},
        )
        return "".join(e.delta.message.content.text for e in events if e.type == "content-delta")


def cohere_v1_events(gateway: RunningGateway, headers: dict[str, str]) -> list[str]:
    with (
        httpx.Client(timeout=10) as http,
        cohere.Client(api_key=KEY, base_url=gateway.provider_url("cohere"), httpx_client=http) as client,
    ):
        events = client.chat_stream(
            model=MODEL, message=QUESTION, request_options={"additional_headers": headers, "max_retries": 0}
        )
        return [event.event_type for event in events]


def test_a_cohere_v2_stream_is_stored_only_when_it_came_to_message_end(
    gateway: RunningGateway, co: FakeCohere
) -> None:
    cut = [cohere_v2_text(gateway, CUT) for _ in range(2)]
    assert cut[0] == cut[1] != f"echo: {QUESTION}"  # two pieces of the answer, no message-end
    assert len(co.requests) == 2  # the cut stream was not served again
    for record in records(gateway, 2):
        assert record["cache_status"] == "MISS"
        assert_broken_off(record, "message-end")

    whole = [cohere_v2_text(gateway, {}) for _ in range(2)]
    assert whole == [f"echo: {QUESTION}"] * 2
    assert len(co.requests) == 3
    assert [(r["cache_status"], r["error"]) for r in records(gateway, 4)[2:]] == [
        ("MISS", None),
        ("HIT", None),
    ]


def test_a_cohere_v1_stream_is_stored_only_when_it_came_to_stream_end(
    gateway: RunningGateway, co: FakeCohere
) -> None:
    cut = [cohere_v1_events(gateway, CUT) for _ in range(2)]
    assert cut[0] == cut[1] == ["stream-start", "text-generation", "text-generation", "text-generation"]
    assert len(co.requests) == 2
    for record in records(gateway, 2):
        assert record["cache_status"] == "MISS"
        assert_broken_off(record, "stream-end")

    whole = [cohere_v1_events(gateway, {}) for _ in range(2)]
    assert whole[0] == whole[1]
    assert whole[0][-1] == "stream-end"
    assert len(co.requests) == 3
    assert [(r["cache_status"], r["error"]) for r in records(gateway, 4)[2:]] == [
        ("MISS", None),
        ("HIT", None),
    ]


def gemini_client(gateway: RunningGateway, provider: str) -> genai.Client:
    options = types.HttpOptions(base_url=gateway.provider_url(provider))
    if provider == "google-ai-studio":
        return genai.Client(api_key="gemini-key", http_options=options)
    credentials = Credentials(token="ya29.fake-access-token")  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True, project="acme", location="us-central1", credentials=credentials, http_options=options
    )


@pytest.mark.parametrize("provider", ["google-ai-studio", "google-vertex-ai"])
def test_a_gemini_stream_cut_before_its_finish_reason_is_logged_as_broken_off(
    gateway: RunningGateway, gemini: FakeGemini, provider: str
) -> None:
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers=CUT))
    with gemini_client(gateway, provider) as client:
        for _ in range(2):
            chunks = client.models.generate_content_stream(
                model="gemini-2.5-flash", contents=QUESTION, config=config
            )
            assert "".join(chunk.text or "" for chunk in chunks) != f"echo: {QUESTION}"
    url = f"{gateway.provider_url(provider)}/{MODEL_PATHS[provider]}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}
    with httpx2.Client(timeout=10) as http:
        array = http.post(url, json=body, headers={**CREDENTIALS[provider], **CUT})
    assert array.status_code == 200
    assert not array.content.rstrip().endswith(b"]")  # a JSON array never closed
    assert len(gemini.requests) == 3
    for record in records(gateway, 3):
        assert record["cache_status"] == "MISS"
        assert_broken_off(record, "finishReason")


@pytest.mark.parametrize("alt", ["alt=sse", ""])
def test_a_gemini_stream_longer_than_the_log_keeps_is_judged_whole(
    make_gateway: Callable[..., RunningGateway], gemini: FakeGemini, alt: str
) -> None:
    """The log keeps the last 100 bytes of a stream: the rule reads the bytes it drops as it drops
    them, so that a candidate that finished early still counts, and a cut stream is still told."""
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url}, limits={"log_tee_bytes": 100})
    url = (
        f"{gateway.provider_url('google-ai-studio')}/{MODEL_PATHS['google-ai-studio']}:streamGenerateContent"
    )
    # Two candidates, a chunk each in turn: the first finishes a chunk before the second.
    contents = [{"role": "user", "parts": [{"text": QUESTION}]}]
    body = {"contents": contents, "generationConfig": {"candidateCount": 2}}
    with httpx2.Client(timeout=10) as http:
        answers = [
            http.post(f"{url}?{alt}", json=body, headers={**CREDENTIALS["google-ai-studio"], **headers})
            for headers in (APART, {"x-fake-behavior": "gap-20,end-mid-stream"})
        ]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert len(answers[0].content) > 10 * 100
    whole, cut = records(gateway, 2)
    assert whole["error"] is None
    # (What it wrote is counted from what the log kept, here the last chunk: not asserted.)
    assert cut["error"] == "the upstream stream ended before it finished (finishReason never came)"
