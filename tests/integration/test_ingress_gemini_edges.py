"""Gemini's generateContent API on the unified endpoint, at its edges: a bare-string system
instruction guarded in the log as upstream, a path model holding a colon refused, the gateway's
own 429 saying its wait as Google's does (`RetryInfo`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import RunningGateway, stored_bytes
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.scripted_server import Scripted

KEY = "key-for-the-provider"
EMAIL = "bob@example.com"
LOGS = "/api/v1/accounts/local/gateways/default/logs"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeGemini().serve() as ge:
        yield {"openai": oa, "google-ai-studio": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


def url(gateway: RunningGateway, model: str, method: str = "generateContent") -> str:
    return f"{gateway.provider_url('compat')}/v1beta/models/{model}:{method}"


def detail_of(gateway: RunningGateway) -> str:
    (record,) = gateway.wait_for_logs(1)
    answer = gateway.http.get(f"{LOGS}/{record['id']}")
    assert answer.status_code == 200
    return answer.text


# The google-genai SDK always sends a Content; a REST client may send the instruction as a string,
# which the ingress takes: so the log's copy of the client's body is guarded as what went upstream.
@pytest.mark.parametrize("key", ["systemInstruction", "system_instruction"])
def test_a_string_system_instruction_is_blocked_and_kept_out_of_the_log(
    gateway: RunningGateway, fakes: dict[str, Any], key: str
) -> None:
    gateway.configure(guardrails={"pii": {"action": "block", "entities": ["email"]}})
    body = {key: f"mail {EMAIL}", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(url(gateway, "openai/gpt-4o-mini"), json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fakes["openai"].requests == []
    shown = detail_of(gateway)
    assert "[EMAIL_1]" in orjson.loads(shown)["request_body"]
    assert EMAIL not in shown
    assert EMAIL.encode() not in stored_bytes(gateway.settings)


@pytest.mark.parametrize("key", ["systemInstruction", "system_instruction"])
def test_a_string_system_instruction_is_redacted_upstream_and_in_the_log(
    gateway: RunningGateway, fakes: dict[str, Any], key: str
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["email"]}})
    body = {key: f"mail {EMAIL}", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(url(gateway, "openai/gpt-4o-mini"), json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 200
    (sent,) = fakes["openai"].requests
    assert orjson.loads(sent.body)["messages"][0] == {"role": "system", "content": "mail [EMAIL_1]"}
    shown = detail_of(gateway)
    assert orjson.loads(orjson.loads(shown)["request_body"])[key] == "mail [EMAIL_1]"
    assert EMAIL not in shown
    assert EMAIL.encode() not in stored_bytes(gateway.settings)


# Gemini's path is `{model}:{method}`: the gateway read the method after the last colon, Google's
# adapter the model before the first, so `gemini-2.0-flash:foo` went upstream percent-encoded whole
# while the gateway logged `gemini-2.0-flash` and a method `foo:streamGenerateContent` (no stream).
@pytest.mark.parametrize(
    ("model", "method", "query"),
    [
        ("google-ai-studio/gemini-2.0-flash:foo", "streamGenerateContent", "?alt=sse"),
        ("google-ai-studio/gemini-2.0-flash:foo", "generateContent", ""),
        ("Google-AI-Studio/gemini-2.0-flash:foo", "generateContent", ""),
    ],
)
def test_a_path_model_holding_a_colon_is_refused_with_googles_400(
    gateway: RunningGateway, fakes: dict[str, Any], model: str, method: str, query: str
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(url(gateway, model, method) + query, json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert repr(model) in error["message"]
    assert fakes["google-ai-studio"].requests == []
    assert fakes["openai"].requests == []
    assert [record["status"] for record in gateway.wait_for_logs(1)] == [400]


def test_another_providers_model_may_hold_a_colon(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    """It goes in the chat request's body, where a colon is the model's own (a fine-tuned name)."""
    model = "openai/ft:gpt-4o-mini:acme::abc123"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = httpx.post(url(gateway, model, "generateContent"), json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 200, answer.text
    assert fakes["openai"].requests[-1].json["model"] == "ft:gpt-4o-mini:acme::abc123"


@pytest.mark.parametrize("stream", [False, True])
def test_the_gateways_own_429_says_its_wait_in_googles_retry_info(
    gateway: RunningGateway, fakes: dict[str, Any], stream: bool
) -> None:
    gateway.configure(rate_limits=[{"name": "one a minute", "limit": 1, "period": 60}])
    options = types.HttpOptions(base_url=gateway.provider_url("compat"))
    with genai.Client(api_key=KEY, http_options=options) as client:

        def ask() -> None:
            if stream:
                list(client.models.generate_content_stream(model="openai/gpt-4o-mini", contents="hi"))
            else:
                client.models.generate_content(model="openai/gpt-4o-mini", contents="hi")

        ask()
        with pytest.raises(errors.ClientError) as raised:
            ask()
    assert (raised.value.code, raised.value.status) == (429, "RESOURCE_EXHAUSTED")
    response: Any = raised.value.response
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 60
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"}
    assert raised.value.details["error"]["details"] == [retry_info]
    assert len(fakes["openai"].requests) == 1


def test_a_404_of_the_compat_endpoint_lists_geminis_v1beta_paths(gateway: RunningGateway) -> None:
    answer = httpx.post(f"{gateway.provider_url('compat')}/v1beta/nothing", json={})
    assert answer.status_code == 404
    error = answer.json()["error"]
    for method in ("generateContent", "streamGenerateContent", "countTokens"):
        assert f"v1beta/models/{{model}}:{method}" in error["message"]
        assert f"v1/models/{{model}}:{method}" in error["paths"]


CHAT = {"id": "chatcmpl-1", "created": 1, "model": "gpt-4o-mini", "object": "chat.completion.chunk"}


# Gemini has no refusal field: a chat answer's refusal is text, beside its content when it has both,
# in the whole answer as in the stream.
@pytest.mark.parametrize("stream", [False, True])
def test_content_and_refusal_both_reach_a_gemini_client_as_text(
    make_gateway: Callable[..., RunningGateway], stream: bool
) -> None:
    with Scripted().serve() as upstream:
        gateway = make_gateway(upstreams={"openai": upstream.url + "/v1"})
        said = {"content": "Here is part. ", "refusal": "I cannot do the rest."}
        if stream:
            delta = {"index": 0, "delta": {"role": "assistant", **said}, "finish_reason": None}
            end = {"index": 0, "delta": {}, "finish_reason": "stop"}
            upstream.reply_events([CHAT | {"choices": [delta]}, CHAT | {"choices": [end]}], done=True)
        else:
            choice = {"index": 0, "message": {"role": "assistant", **said}, "finish_reason": "stop"}
            upstream.reply_json(CHAT | {"object": "chat.completion", "choices": [choice]})
        options = types.HttpOptions(base_url=gateway.provider_url("compat"))
        with genai.Client(api_key=KEY, http_options=options) as client:
            if stream:
                answers = list(
                    client.models.generate_content_stream(model="openai/gpt-4o-mini", contents="hi")
                )
            else:
                answers = [client.models.generate_content(model="openai/gpt-4o-mini", contents="hi")]
    parts = [
        part.model_dump(exclude_none=True)
        for answer in answers
        for candidate in answer.candidates or ()
        for part in (candidate.content.parts or ())
        if candidate.content
    ]
    assert parts == [{"text": "Here is part. "}, {"text": "I cannot do the rest."}]
