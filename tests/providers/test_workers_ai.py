"""The Workers AI adapter on recorded bodies and streams: URLs, facts, usage, generated text."""

from __future__ import annotations

import orjson

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.workers_ai import WORKERS_AI
from sluicegate.types import Usage

MODEL = "@cf/meta/llama-3.1-8b-instruct"
RUN = Route("0123abcd", MODEL)
CHAT = Route("0123abcd", "v1/chat/completions")

RUN_BODY = orjson.dumps(
    {
        "result": {
            "response": "Cloudflare is a connectivity cloud.",
            "tool_calls": [],
            "usage": {"prompt_tokens": 17, "completion_tokens": 8, "total_tokens": 25},
        },
        "success": True,
        "errors": [],
        "messages": [],
    }
)
# As Workers AI sends it: padding in `p`, an empty event, then the cumulative usage.
RUN_STREAM = (
    b'data: {"response":"Hello","p":"abcdefghijklmnopqrstuvw"}\n\n'
    b'data: {"response":"!","p":"abcdefghijklmnopqrstuvw"}\n\n'
    b'data: {"response":" How","p":"abcdefgh"}\n\n'
    b'data: {"response":""}\n\n'
    b'data: {"response":"","usage":{"prompt_tokens":755,"completion_tokens":3,"total_tokens":758}}\n\n'
    b"data: [DONE]\n\n"
)
# Newer models stream OpenAI-shaped chunks (with incremental usage) before the native total.
MIXED_STREAM = (
    b'data: {"choices":[{"delta":{"content":"Hi"},"index":0}],"object":"chat.completion.chunk",'
    b'"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}\n\n'
    b'data: {"choices":[{"delta":{"content":" there"},"index":0}],"object":"chat.completion.chunk",'
    b'"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}\n\n'
    b'data: {"response":"","usage":{"prompt_tokens":147,"completion_tokens":2,"total_tokens":149,'
    b'"prompt_tokens_details":{"cached_tokens":128}}}\n\n'
    b"data: [DONE]\n\n"
)


def test_registered_under_its_slug() -> None:
    assert REGISTRY["workers-ai"] is WORKERS_AI


def test_run_endpoint_url_uses_the_gateway_account_and_keeps_the_path_as_sent() -> None:
    assert (
        WORKERS_AI.upstream_url(WORKERS_AI.default_base_url, RUN)
        == "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/run/@cf/meta/llama-3.1-8b-instruct"
    )
    encoded = Route("acct", "@cf%2Fmeta%2Fllama-3.1-8b-instruct", "x=1")
    assert (
        WORKERS_AI.upstream_url("http://127.0.0.1:9000/", encoded)
        == "http://127.0.0.1:9000/client/v4/accounts/acct/ai/run/@cf%2Fmeta%2Fllama-3.1-8b-instruct?x=1"
    )


def test_openai_compatible_endpoints_go_to_ai_v1() -> None:
    assert (
        WORKERS_AI.upstream_url("https://api.cloudflare.com", CHAT)
        == "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/v1/chat/completions"
    )
    embeddings = Route("acct", "v1/embeddings")
    assert (
        WORKERS_AI.upstream_url("http://h", embeddings) == "http://h/client/v4/accounts/acct/ai/v1/embeddings"
    )


def test_request_facts_take_the_model_from_the_path_or_the_body() -> None:
    facts = WORKERS_AI.read_request(RUN, b'{"messages": [], "stream": true}')
    assert (facts.model, facts.stream, facts.payload) == (MODEL, True, {"messages": [], "stream": True})
    encoded = Route("acct", "@cf%2Fmeta%2Fllama-3.1-8b-instruct")
    assert WORKERS_AI.read_request(encoded, b"{}").model == MODEL
    assert WORKERS_AI.read_request(RUN, b"not json").model == MODEL
    chat = WORKERS_AI.read_request(CHAT, b'{"model": "@cf/qwen/qwq-32b", "stream": false}')
    assert (chat.model, chat.stream) == ("@cf/qwen/qwq-32b", False)


def test_usage_from_the_result_envelope() -> None:
    assert WORKERS_AI.read_usage(RUN, RUN_BODY) == Usage(input_tokens=17, output_tokens=8)
    no_usage = orjson.dumps({"result": {"response": "x"}, "success": True})
    assert WORKERS_AI.read_usage(RUN, no_usage) is None
    error = b'{"success":false,"errors":[{"code":5007,"message":"No such model"}],"result":null}'
    assert WORKERS_AI.read_usage(RUN, error) is None
    assert WORKERS_AI.read_usage(RUN, b"<html>502</html>") is None
    chat = b'{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}'
    assert WORKERS_AI.read_usage(CHAT, chat) == Usage(input_tokens=5, output_tokens=6)


def test_usage_from_streams_is_the_last_cumulative_one() -> None:
    assert WORKERS_AI.read_stream_usage(RUN, RUN_STREAM) == Usage(input_tokens=755, output_tokens=3)
    assert WORKERS_AI.read_stream_usage(RUN, MIXED_STREAM) == Usage(
        input_tokens=147, output_tokens=2, cached_tokens=128
    )
    without = RUN_STREAM.replace(
        b',"usage":{"prompt_tokens":755,"completion_tokens":3,"total_tokens":758}', b""
    )
    assert WORKERS_AI.read_stream_usage(RUN, without) is None


def test_output_text() -> None:
    assert WORKERS_AI.output_text(RUN, RUN_BODY, streamed=False) == "Cloudflare is a connectivity cloud."
    assert WORKERS_AI.output_text(RUN, RUN_STREAM, streamed=True) == "Hello! How"
    assert WORKERS_AI.output_text(RUN, MIXED_STREAM, streamed=True) == "Hi there"
    json_mode = orjson.dumps({"result": {"response": {"name": "India"}}, "success": True})
    assert WORKERS_AI.output_text(RUN, json_mode, streamed=False) == '{"name":"India"}'
    chat = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"Yes."}}]}'
    assert WORKERS_AI.output_text(CHAT, chat, streamed=False) == "Yes."
    assert WORKERS_AI.output_text(RUN, b"garbage", streamed=False) == ""
    assert WORKERS_AI.output_text(RUN, b'data: {"response":7,"choices":3}\n\n', streamed=True) == ""
