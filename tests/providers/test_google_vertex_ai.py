"""The Google Vertex AI adapter: hosts chosen by the location in the path, and Vertex's usage shape."""

from __future__ import annotations

import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.types import Usage

MODEL_PATH = "publishers/google/models/gemini-2.5-flash"
GENERATE = Route("local", f"v1/projects/acme/locations/us-central1/{MODEL_PATH}:generateContent")
STREAM = Route(
    "local", f"v1beta1/projects/acme/locations/global/{MODEL_PATH}:streamGenerateContent", "alt=sse"
)

# As Vertex sends it: only the last chunk counts tokens; the others carry only the traffic type.
SSE = (
    b'data: {"candidates": [{"content": {"role": "model","parts": [{"text": "Hello!"}]}}],'
    b'"usageMetadata": {"trafficType": "ON_DEMAND"},"modelVersion": "gemini-2.5-flash",'
    b'"createTime": "2026-03-10T14:54:45.066123Z","responseId": "tTCwacuEBMvnitYP06qsgQY"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"role": "model","parts": [{"text": " How can I help?"}]},'
    b'"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 1,"candidatesTokenCount": 9,'
    b'"totalTokenCount": 30,"trafficType": "ON_DEMAND","thoughtsTokenCount": 20},'
    b'"modelVersion": "gemini-2.5-flash","createTime": "2026-03-10T14:54:45.066123Z",'
    b'"responseId": "tTCwacuEBMvnitYP06qsgQY"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"role": "model","parts": [{"text": ""}]}}],'
    b'"usageMetadata": {"trafficType": "ON_DEMAND"}}\r\n\r\n'
)


def test_registered_under_its_slug() -> None:
    assert REGISTRY["google-vertex-ai"] is GOOGLE_VERTEX_AI


@pytest.mark.parametrize(
    ("path", "host"),
    [
        (GENERATE.path, "https://us-central1-aiplatform.googleapis.com"),
        (
            "v1/projects/acme/locations/europe-west4/endpoints/123:predict",
            "https://europe-west4-aiplatform.googleapis.com",
        ),
        (STREAM.path, "https://aiplatform.googleapis.com"),
        (
            f"v1/projects/acme/locations/us/{MODEL_PATH}:generateContent",
            "https://aiplatform.us.rep.googleapis.com",
        ),
        (
            f"v1/projects/acme/locations/eu/{MODEL_PATH}:generateContent",
            "https://aiplatform.eu.rep.googleapis.com",
        ),
        (f"v1/{MODEL_PATH}:generateContent", "https://aiplatform.googleapis.com"),  # express mode
    ],
)
def test_the_default_base_url_means_the_host_of_the_location(path: str, host: str) -> None:
    url = GOOGLE_VERTEX_AI.upstream_url(GOOGLE_VERTEX_AI.default_base_url, Route("local", path))
    assert url == f"{host}/{path}"


@pytest.mark.parametrize(
    "location", ["evil.example#", "x@evil.example", "EVIL", "us-central1.evil.example", ""]
)
def test_a_location_that_is_not_one_never_becomes_a_host(location: str) -> None:
    route = Route("local", f"v1/projects/acme/locations/{location}/{MODEL_PATH}:generateContent")
    url = GOOGLE_VERTEX_AI.upstream_url(GOOGLE_VERTEX_AI.default_base_url, route)
    assert url.startswith("https://aiplatform.googleapis.com/v1/projects/acme/")


def test_a_configured_base_url_replaces_the_computed_host() -> None:
    url = GOOGLE_VERTEX_AI.upstream_url("http://127.0.0.1:9000/", STREAM)
    assert url == f"http://127.0.0.1:9000/{STREAM.path}?alt=sse"


def test_model_and_stream_flag_come_from_the_path() -> None:
    facts = GOOGLE_VERTEX_AI.read_request(STREAM, b'{"contents": []}')
    assert (facts.model, facts.stream, facts.payload) == ("gemini-2.5-flash", True, {"contents": []})
    facts = GOOGLE_VERTEX_AI.read_request(GENERATE, b"")
    assert (facts.model, facts.stream) == ("gemini-2.5-flash", False)
    endpoint = Route("local", "v1/projects/acme/locations/us-central1/endpoints/4242:generateContent")
    assert GOOGLE_VERTEX_AI.read_request(endpoint, b"{}").model == "endpoints/4242"


def test_stream_usage_is_the_last_chunk_that_counts() -> None:
    usage = GOOGLE_VERTEX_AI.read_stream_usage(STREAM, SSE)
    assert usage == Usage(input_tokens=1, output_tokens=29, reasoning_tokens=20)
    assert GOOGLE_VERTEX_AI.output_text(STREAM, SSE, streamed=True) == "Hello! How can I help?"


def test_usage_of_a_whole_answer() -> None:
    body = (
        b'{"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],'
        b' "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1, "totalTokenCount": 9,'
        b' "trafficType": "ON_DEMAND"}}'
    )
    assert GOOGLE_VERTEX_AI.read_usage(GENERATE, body) == Usage(input_tokens=8, output_tokens=1)


CLAUDE = "v1/projects/acme/locations/us-east5/publishers/anthropic/models"


def test_claude_answers_are_read_as_anthropic_messages() -> None:
    body = (
        b'{"type":"message","content":[{"type":"text","text":"Hi"}],'
        b'"usage":{"input_tokens":9,"output_tokens":4}}'
    )
    route = Route("local", f"{CLAUDE}/claude-haiku-4-5@20251001:rawPredict")
    assert GOOGLE_VERTEX_AI.read_usage(route, body) == Usage(input_tokens=9, output_tokens=4)
    assert GOOGLE_VERTEX_AI.output_text(route, body, streamed=False) == "Hi"
    # Counting tokens is free there too.
    counting = Route("local", f"{CLAUDE}/count-tokens:rawPredict")
    assert GOOGLE_VERTEX_AI.read_usage(counting, b'{"input_tokens": 2095}') == Usage()


def test_claude_requests_reserve_the_web_searches_their_tool_allows() -> None:
    """As on Anthropic's own API (tests/integration/test_prices.py): a cost rule reserves them."""
    tools = b'"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}]'
    body = b'{"anthropic_version":"vertex-2023-10-16","max_tokens":64,"messages":[],' + tools + b"}"
    claude = Route("local", f"{CLAUDE}/claude-sonnet-4-6:rawPredict")
    assert GOOGLE_VERTEX_AI.read_request(claude, body).searches == 3
    gemini = Route(
        "local",
        "v1/projects/acme/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent",
    )
    assert GOOGLE_VERTEX_AI.read_request(gemini, body).searches == 0
