"""The Google AI Studio adapter on recorded bodies and streams: facts, URLs, usage, generated text."""

from __future__ import annotations

import time

import orjson
import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.gemini.adapter import speaks_openai
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.types import Usage

GENERATE = Route("local", "v1beta/models/gemini-2.5-flash:generateContent")
STREAM = Route("local", "v1beta/models/gemini-2.0-flash:streamGenerateContent", "alt=sse")
ARRAY_STREAM = Route("local", "v1beta/models/gemini-2.0-flash:streamGenerateContent")
COUNT = Route("local", "v1beta/models/gemini-2.0-flash:countTokens")
EMBED = Route("local", "v1beta/models/text-embedding-004:embedContent")

REQUEST = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]})
# A thinking model answering from an implicit cache: thoughts are reported beside the candidates.
BODY = orjson.dumps(
    {
        "candidates": [
            {
                "content": {"parts": [{"text": "A CDN "}, {"text": "and more."}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 2100,
            "candidatesTokenCount": 4,
            "totalTokenCount": 2163,
            "cachedContentTokenCount": 2048,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2100}],
            "thoughtsTokenCount": 59,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "qDwzaJ2AL9qbz7IP4Ia2mAk",
    },
    option=orjson.OPT_INDENT_2,
)
# As Google sends it: CRLF CRLF between events, running usage on every chunk, the last one final.
SSE = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "def"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 21,"totalTokenCount": 21},"modelVersion": "gemini-2.0-flash"}'
    b"\r\n\r\n"
    b'data: {"candidates": [{"content": {"parts": [{"text": " bubble_sort(xs):"}],"role": "model"},'
    b'"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 21,'
    b'"candidatesTokenCount": 17,"totalTokenCount": 38},"modelVersion": "gemini-2.0-flash"}\r\n\r\n'
)
ARRAY = (
    b'[{"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],\n'
    b' "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}\n,\r\n'
    b'{"candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"}, "finishReason": "STOP"}],\n'
    b' "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}}\n]'
)


def test_registered_under_its_slug() -> None:
    assert REGISTRY["google-ai-studio"] is GOOGLE_AI_STUDIO


def test_upstream_url_keeps_version_path_and_query_as_sent() -> None:
    assert (
        GOOGLE_AI_STUDIO.upstream_url(GOOGLE_AI_STUDIO.default_base_url, STREAM)
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    route = Route("local", "v1/models/gemini-2.0-flash%3AgenerateContent", "key=AIza%2Bx")
    url = GOOGLE_AI_STUDIO.upstream_url("http://127.0.0.1:9000/", route)
    assert url == "http://127.0.0.1:9000/v1/models/gemini-2.0-flash%3AgenerateContent?key=AIza%2Bx"


@pytest.mark.parametrize(
    ("path", "model", "stream"),
    [
        ("v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash", False),
        ("v1/models/gemini-2.0-flash:streamGenerateContent", "gemini-2.0-flash", True),
        ("v1beta/models/gemini-2.0-flash%3AstreamGenerateContent", "gemini-2.0-flash", True),
        ("v1beta/models/text-embedding-004:batchEmbedContents", "text-embedding-004", False),
        ("v1beta/tunedModels/my-model-42:generateContent", "tunedModels/my-model-42", False),
        ("v1beta/models", None, False),
        ("v1beta/files/abc", None, False),
    ],
)
def test_model_and_stream_flag_come_from_the_path(path: str, model: str | None, stream: bool) -> None:
    facts = GOOGLE_AI_STUDIO.read_request(Route("local", path), REQUEST)
    assert (facts.model, facts.stream) == (model, stream)


def test_request_payload_is_the_parsed_body_when_json() -> None:
    assert GOOGLE_AI_STUDIO.read_request(GENERATE, REQUEST).payload == orjson.loads(REQUEST)
    facts = GOOGLE_AI_STUDIO.read_request(GENERATE, b"\x00not json")
    assert (facts.model, facts.payload) == ("gemini-2.5-flash", None)
    assert GOOGLE_AI_STUDIO.read_request(GENERATE, b"").payload is None


def test_usage_adds_thoughts_to_output_and_keeps_cached_input() -> None:
    usage = GOOGLE_AI_STUDIO.read_usage(GENERATE, BODY)
    assert usage == Usage(input_tokens=2100, output_tokens=63, cached_tokens=2048, reasoning_tokens=59)
    assert usage.total_tokens == 2163  # Google's own totalTokenCount


def test_tool_use_prompt_tokens_count_as_input() -> None:
    counts = b'"promptTokenCount": 10, "toolUsePromptTokenCount": 90, "candidatesTokenCount": 3'
    body = b'{"usageMetadata": {' + counts + b"}}"
    assert GOOGLE_AI_STUDIO.read_usage(GENERATE, body) == Usage(input_tokens=100, output_tokens=3)


def test_usage_missing_or_unreadable_is_none() -> None:
    assert GOOGLE_AI_STUDIO.read_usage(GENERATE, b'{"candidates": []}') is None
    assert GOOGLE_AI_STUDIO.read_usage(GENERATE, b'{"usageMetadata": {"totalTokenCount": 3}}') is None
    assert GOOGLE_AI_STUDIO.read_usage(GENERATE, b"<html>502</html>") is None
    assert GOOGLE_AI_STUDIO.read_usage(EMBED, b'{"embedding": {"values": [0.1, 0.2]}}') is None


def test_count_tokens_is_free() -> None:
    assert GOOGLE_AI_STUDIO.read_usage(COUNT, b'{"totalTokens": 31}') == Usage()


def test_stream_usage_is_the_last_chunks() -> None:
    assert GOOGLE_AI_STUDIO.read_stream_usage(STREAM, SSE) == Usage(input_tokens=21, output_tokens=17)
    without = b"".join(SSE.split(b'"usageMetadata": ')[:1]) + b"}\r\n\r\n"
    assert GOOGLE_AI_STUDIO.read_stream_usage(STREAM, without) is None


def test_json_array_streams_whole_and_cut_short() -> None:
    assert GOOGLE_AI_STUDIO.read_stream_usage(ARRAY_STREAM, ARRAY) == Usage(input_tokens=5, output_tokens=2)
    assert GOOGLE_AI_STUDIO.output_text(ARRAY_STREAM, ARRAY, streamed=True) == "Hello"
    cut = ARRAY[: ARRAY.index(b"candidatesTokenCount")]
    assert GOOGLE_AI_STUDIO.read_stream_usage(ARRAY_STREAM, cut) == Usage(input_tokens=5)
    assert GOOGLE_AI_STUDIO.output_text(ARRAY_STREAM, cut, streamed=True) == "Hel"
    # A client may also receive the array unstreamed (small enough to be read whole).
    assert GOOGLE_AI_STUDIO.read_usage(ARRAY_STREAM, ARRAY) == Usage(input_tokens=5, output_tokens=2)


def test_output_text() -> None:
    assert GOOGLE_AI_STUDIO.output_text(GENERATE, BODY, streamed=False) == "A CDN and more."
    assert GOOGLE_AI_STUDIO.output_text(STREAM, SSE, streamed=True) == "def bubble_sort(xs):"
    call = b'{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]}}]}'
    assert GOOGLE_AI_STUDIO.output_text(GENERATE, call, streamed=False) == 'f{"x": 1}'
    assert GOOGLE_AI_STUDIO.output_text(GENERATE, b"garbage", streamed=False) == ""
    assert (
        GOOGLE_AI_STUDIO.output_text(GENERATE, b'{"candidates": [7, {"content": null}]}', streamed=False)
        == ""
    )


def test_its_openai_compatibility_is_read_as_openai() -> None:
    # https://ai.google.dev/gemini-api/docs/openai: `v1beta/openai/chat/completions`, model in the body.
    route = Route("local", "v1beta/openai/chat/completions")
    facts = GOOGLE_AI_STUDIO.read_request(route, orjson.dumps({"model": "gemini-2.0-flash", "stream": True}))
    assert (facts.model, facts.stream, facts.cacheable) == ("gemini-2.0-flash", True, True)
    answer = orjson.dumps({"usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
    assert GOOGLE_AI_STUDIO.read_usage(route, answer) == Usage(input_tokens=11, output_tokens=7)
    chunk = b'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7}}\n\ndata: [DONE]\n\n'
    assert GOOGLE_AI_STUDIO.read_stream_usage(route, chunk) == Usage(input_tokens=11, output_tokens=7)


@pytest.mark.parametrize(
    ("path", "openai"),
    [
        ("v1beta/openai/chat/completions", True),
        ("v1/projects/p/locations/l/endpoints/openapi/chat/completions", True),
        ("v1/projects/p/locations/l/endpoints/openapi/", True),
        ("v1/projects/p/locations/l/endpoints/openapi", False),  # no path below the endpoint
        ("v1beta/models/gemini-2.0-flash:generateContent", False),
        ("v1beta/openai/models/x:generateContent", False),  # a method after it: native
        ("v1beta/models/x:openai/chat", False),  # `openai` right after `:` starts no segment
        ("v1beta/my-openai/chat", False),
    ],
)
def test_an_openai_compatible_path_is_told_from_a_native_one(path: str, openai: bool) -> None:
    assert speaks_openai(Route("local", path)) is openai


def test_telling_a_long_path_apart_takes_one_pass() -> None:
    """A regular expression for it backtracked: an 8 KB path of `openai/` segments ending in a method
    took about 20 ms of the event loop per read (four reads a request)."""
    path = "v1beta/" + "openai/" * 1160 + ":x"
    started = time.perf_counter()
    for _ in range(10):
        assert not speaks_openai(Route("local", path))
    assert (time.perf_counter() - started) / 10 < 0.002
