"""Response guardrails read Gemini's streamGenerateContent without `alt=sse`: a JSON array of
GenerateContentResponse objects streamed as they are made (`[{…}\\n,\\r\\n{…}\\n]`), which plain REST
clients and curl examples get (the SDKs ask for `alt=sse`). Each element is read as the SSE form's
event is, so both forms of the same answer come out alike, and the array stays valid JSON, sent
element by element. Driven with a plain HTTP client: no SDK sends this form."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from sluicegate.providers.sse import iter_json
from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

API_KEY = "AIzaSy-fake-0123456789abcdefghijklmnop"
# A private key pasted on one line: the fake echoes it a word an element, so it spans seven.
KEY = (
    "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    " -----END PRIVATE KEY-----"
)
ASKED = f"save_note my key is {KEY} thanks"
ANSWER = "echo: save_note my key is [SECRET_1] thanks"
SECRET_RULE = {"entities": ["secret"], "direction": "response"}
REDACT = {"pii": {"action": "redact", **SECRET_RULE}}
BLOCK = {"pii": {"action": "block", **SECRET_RULE}}


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url})


def body(text: str = ASKED, *, thoughts: bool = False, tools: bool = False) -> dict[str, Any]:
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if thoughts:
        request["generationConfig"] = {"thinkingConfig": {"includeThoughts": True}}
    if tools:
        request["tools"] = [{"functionDeclarations": [{"name": "save_note", "description": "d"}]}]
    return request


def stream(
    gateway: RunningGateway,
    request: dict[str, Any],
    *,
    sse: bool = False,
    model: str = "gemini-2.5-flash",
    behavior: str | None = None,
) -> httpx.Response:
    """The gateway's answer to streamGenerateContent, its body read (`alt=sse` with `sse`)."""
    url = f"{gateway.provider_url('google-ai-studio')}/v1beta/models/{model}:streamGenerateContent"
    headers = {"x-goog-api-key": API_KEY, **({"x-fake-behavior": behavior} if behavior else {})}
    params = {"alt": "sse"} if sse else {}
    with httpx.Client(timeout=10) as client:
        response = client.post(url, params=params, json=request, headers=headers)
    assert response.status_code == 200, response.text
    return response


def elements(response: httpx.Response) -> list[dict[str, Any]]:
    """The array's elements; it must be one JSON array, of response objects."""
    assert response.headers["content-type"].startswith("application/json")
    document = json.loads(response.content)
    assert isinstance(document, list)
    assert all(isinstance(element, dict) for element in document)
    return document


def parts(responses: list[dict[str, Any]], *, thought: bool) -> list[dict[str, Any]]:
    return [
        part
        for response in responses
        for candidate in response.get("candidates") or []
        for part in candidate.get("content", {}).get("parts") or []
        if bool(part.get("thought")) == thought
    ]


def text(responses: list[dict[str, Any]], *, thought: bool = False) -> str:
    return "".join(part.get("text", "") for part in parts(responses, thought=thought))


def test_a_secret_split_across_elements_is_redacted_and_the_array_stays_json(
    gateway: RunningGateway,
) -> None:
    gateway.configure(guardrails=REDACT)
    response = stream(gateway, body())
    assert b"MIIEvQ" not in response.content
    answer = elements(response)
    assert text(answer) == ANSWER
    assert len(answer) == len(ASKED.split()) + 1  # still an element a word: none held to the end
    record = gateway.wait_for_logs(1)[0]
    assert "response:redact:secret" in record["metadata"]["guardrails"]


def test_a_block_rule_redacts_the_array_as_it_does_the_sse_stream(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    gateway.configure(guardrails=BLOCK)
    array = elements(stream(gateway, body()))
    gemini.clear()  # the same response ids again
    events = list(iter_json(stream(gateway, body(), sse=True).content))
    assert text(array) == ANSWER
    assert array == events  # what was sent cannot be withdrawn: both forms redact, alike


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-3-flash-preview"])
def test_thoughts_are_redacted_and_their_run_unsigned_as_in_the_sse_stream(
    gateway: RunningGateway, gemini: FakeGemini, model: str
) -> None:
    gateway.configure(guardrails=REDACT)
    request = body(thoughts=True, tools=model.startswith("gemini-3"))
    array = elements(stream(gateway, request, model=model))
    gemini.clear()
    assert array == list(iter_json(stream(gateway, request, model=model, sse=True).content))
    assert b"MIIEvQ" not in json.dumps(array).encode()
    assert text(array, thought=True) == "The user wrote: save_note my key is [SECRET_1] thanks"
    assert not any("thoughtSignature" in part for part in parts(array, thought=True))
    if model.startswith("gemini-3"):  # the call's own signature stays: Gemini 3 wants it back
        (call,) = [part for part in parts(array, thought=False) if "functionCall" in part]
        assert call["functionCall"]["args"] == {"query": "save_note my key is [SECRET_1] thanks"}
        assert call["thoughtSignature"]
    else:
        assert text(array) == ANSWER


def test_the_request_is_redacted_upstream_and_restored_in_the_array(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    gateway.configure(guardrails={"pii": {"action": "redact", "entities": ["email"]}, "restore": True})
    array = elements(stream(gateway, body("write to carol@example.net")))
    sent = gemini.requests[0].body.decode()
    assert "carol@" not in sent
    assert "[EMAIL_1]" in sent
    assert text(array) == "echo: write to carol@example.net"


def test_a_cached_answer_replayed_as_an_array_is_redacted(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    gateway.configure(guardrails=REDACT, cache_enabled=True)
    stream(gateway, body())  # stored as the upstream sent it
    response = stream(gateway, body())
    assert response.headers["cf-aig-cache-status"] == "HIT"
    assert len(gemini.requests) == 1
    assert text(elements(response)) == ANSWER


def read_until_broken(response: httpx.Response) -> bytes:
    """What came of a body before it broke off."""
    received = b""
    try:
        for chunk in response.iter_bytes():
            received += chunk
    except httpx.TransportError:
        return received
    raise AssertionError("the body ended cleanly")


def test_elements_are_sent_as_they_pass_not_held_to_the_end(gateway: RunningGateway) -> None:
    gateway.configure(guardrails=REDACT)
    url = f"{gateway.provider_url('google-ai-studio')}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    headers = {"x-goog-api-key": API_KEY, "x-fake-behavior": "drop-mid-stream"}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", url, json=body(), headers=headers) as response,
    ):
        # The upstream breaks off after two elements: held to the end, there would be no answer.
        assert response.status_code == 200
        received = read_until_broken(response)
    first, _, _ = received.partition(b"\n,\r\n")
    assert json.loads(first.removeprefix(b"["))["candidates"][0]["content"]["parts"] == [{"text": "echo:"}]
