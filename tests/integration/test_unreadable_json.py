"""A body that orjson cannot read but a lenient upstream would (the fakes read with Python's `json`,
which takes NaN, lone surrogate escapes and a byte order mark) is refused with a 400 that names the
problem and its byte: forwarded, it would pass every token and cost limit uncounted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI

CHAT = "/v1/local/default/openai/chat/completions"
GEMINI = "/v1/local/default/google-ai-studio/v1beta/models/gemini-2.0-flash:generateContent"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-lenient"}
# The gateway names the byte the lone high surrogate escape starts at (75).
LONE_SURROGATE = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three \\ud83d"}]}'
BOM = b'\xef\xbb\xbf{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three"}]}'


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeGemini]]:
    with FakeOpenAI().serve() as openai_fake, FakeGemini().serve() as gemini_fake:
        yield openai_fake, gemini_fake


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fakes: tuple[FakeOpenAI, FakeGemini]
) -> RunningGateway:
    openai_fake, gemini_fake = fakes
    gateway = make_gateway(
        upstreams={"openai": openai_fake.base_url, "google-ai-studio": gemini_fake.base_url}
    )
    # A token limit a few requests would spend: a body the gateway cannot count must not slip past it.
    rules = [{"limit": 30, "period": 600, "unit": "tokens"}]
    settings = {"settings": {"rate_limits": rules}}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json=settings).is_success
    return gateway


def refused(gateway: RunningGateway, path: str, body: bytes) -> dict[str, Any]:
    response = httpx.post(gateway.url + path, content=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    if path == GEMINI:  # the gateway's own errors on Google's endpoint are in Google's shape
        assert (error["code"], error["status"], error["sluicegate"]["code"]) == (
            400,
            "INVALID_ARGUMENT",
            "bad_request",
        )
        return {"message": error["message"], **error["sluicegate"]}
    assert (error["type"], error["code"]) == ("sluicegate_error", "bad_request")
    return error


def test_a_lone_surrogate_escape_is_refused_at_its_byte_however_often_it_is_sent(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeGemini]
) -> None:
    for _ in range(4):
        error = refused(gateway, CHAT, LONE_SURROGATE)
        assert error["message"].startswith(
            "the request body is not valid JSON at byte 75: a lone surrogate escape \\ud83d;"
        )
        assert "send the character itself, or a valid pair" in error["message"]
        assert error["byte"] == 75 == LONE_SURROGATE.index(b"\\ud83d")
    assert fakes[0].requests == []
    # Each refusal is logged like any other 400, with the body as it came.
    records = gateway.wait_for_logs(4)
    assert [record["status"] for record in records] == [400] * 4
    assert all("lone surrogate escape" in record["error"] for record in records)
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{records[0]['id']}").json()
    assert detail["request_body"] == LONE_SURROGATE.decode()


# name -> (path, body, the problem the message names, the byte it names)
CASES = {
    "NaN": (CHAT, b'{"model":"gpt-4o-mini","temperature":NaN}', "NaN is not a JSON number; send null", 37),
    "-Infinity": (CHAT, b'{"model":"gpt-4o-mini","top_p":-Infinity}', "-Infinity is not a JSON number", 31),
    "BOM": (CHAT, BOM, "a UTF-8 byte order mark (EF BB BF); JSON sent over a network must not", 0),
    "not UTF-8": (CHAT, b'{"model":"gpt-4o-mini","user":"\xff"}', "bytes that are not UTF-8 (FF)", 31),
    "Gemini NaN": (GEMINI, b'{"contents":[],"generationConfig":{"temperature":NaN}}', "NaN is not", 49),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_what_lenient_parsers_take_is_refused_naming_the_byte(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeGemini], case: str
) -> None:
    path, body, problem, byte = CASES[case]
    error = refused(gateway, path, body)
    assert error["message"].startswith(f"the request body is not valid JSON at byte {byte}: {problem}")
    assert error["byte"] == byte
    assert fakes[0].requests == []
    assert fakes[1].requests == []
    # What the gateway can read still goes through, counted.
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-lenient", max_retries=0) as sdk:
        answer = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.usage is not None
        assert answer.usage.prompt_tokens > 0


def test_a_json_body_in_utf_16_is_refused_not_forwarded_uncounted(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeGemini]
) -> None:
    """Python's json (the fake's, many upstreams') reads UTF-16 and UTF-32: forwarded, such a body
    would be answered and never counted, as the gateway reads only UTF-8."""
    text = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three"}]}'
    for body, named in [
        (text.encode("utf-16"), "text encoded as UTF-16LE (byte order mark FF FE)"),
        (text.encode("utf-16-be"), "text encoded as UTF-16BE (NUL bytes among the first four)"),
        (text.encode("utf-32-be"), "text encoded as UTF-32BE (NUL bytes among the first four)"),
    ]:
        error = refused(gateway, CHAT, body)
        assert error["message"].startswith(f"the request body is not valid JSON at byte 0: {named}")
    # Declared JSON, it is refused however it starts; with no type that says, only as JSON starts.
    assert refused(gateway, CHAT, b"model=gpt-4o-mini")["byte"] == 0
    response = httpx.post(
        gateway.url + CHAT,
        content=text.encode("utf-16-be"),
        headers={"Content-Type": "text/plain", "Authorization": "Bearer sk-lenient"},
    )
    assert response.status_code == 400
    assert fakes[0].requests == []


@pytest.fixture
def workers_ai() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI().serve() as fake:
        yield fake


def test_bodies_declared_not_json_are_forwarded_however_they_start(
    make_gateway: Callable[..., RunningGateway],
    fakes: tuple[FakeOpenAI, FakeGemini],
    workers_ai: FakeWorkersAI,
) -> None:
    """A form on a path the gateway does not know as one (a preamble before its first boundary may
    be anything), or raw bytes for a Workers AI model, may start as JSON would: they are not JSON."""
    gateway = make_gateway(upstreams={"openai": fakes[0].base_url, "workers-ai": workers_ai.base_url})
    form = b'\r\n{preamble\r\n--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b--\r\n'
    response = httpx.post(
        gateway.url + "/v1/local/default/openai/files",
        content=form,
        headers={"Content-Type": "multipart/form-data; boundary=b", "Authorization": "Bearer sk-x"},
    )
    assert response.status_code == 404, response.text  # the fake's: it serves no files
    assert [request.body for request in fakes[0].requests] == [form]
    audio = b"{\x00\x01\x02\xff raw bytes"
    for content_type in ["application/octet-stream", "audio/wav", "image/png", "video/mp4"]:
        response = httpx.post(
            gateway.url + "/v1/local/default/workers-ai/@cf/openai/whisper",
            content=audio,
            headers={"Content-Type": content_type, "Authorization": "Bearer cf-x"},
        )
        assert "sluicegate_error" not in response.text, response.text
    assert [request.body for request in workers_ai.requests] == [audio] * 4
