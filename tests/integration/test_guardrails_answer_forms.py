"""Guardrails read an answer in the form its bytes show, not only the one its Content-Type names,
and withhold one they cannot read at all. Over loopback with the official OpenAI SDK, against the
fake OpenAI upstream behind a proxy that relabels its answers (an upstream or a proxy in between
that says `application/json`, `text/plain` or `application/octet-stream`, aiohttp's label for a body
of no stated type, of an SSE stream, or `text/plain` of a JSON answer) or answers in no form the
API has."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Self

import aiohttp
import httpx2 as httpx
import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

CARD = "4111 1111 1111 1111"  # Luhn-valid; the fake echoes it back, a word a chunk when streamed
ASKED = f"my card is {CARD}"
REDACT = {"pii": {"action": "redact", "entities": ["credit_card"], "direction": "response"}}
FLAG = {"pii": {"action": "flag", "entities": ["credit_card"], "direction": "response"}}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR 4111 1111 1111 1111"


class Relabelling:
    """A proxy on loopback in front of `target` that relays its answers with the Content-Type
    `label`, or answers `body` instead, labelled alike."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.label = "application/json"
        self.body: bytes | None = None
        self._server: ServerThread | None = None

    def __enter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._server = ServerThread(app).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if self.body is not None:
            response.headers["Content-Type"] = self.label
            await response.prepare(request)
            await response.write(self.body)
            await response.write_eof()
            return response
        headers = {
            key: request.headers[key] for key in ("Authorization", "Content-Type") if key in request.headers
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.target + request.path_qs, data=await request.read(), headers=headers
            ) as upstream,
        ):
            response.set_status(upstream.status)
            response.headers["Content-Type"] = self.label
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        await response.write_eof()
        return response


@pytest.fixture
def relabelling(fake: FakeOpenAI) -> Iterator[Relabelling]:
    with Relabelling(fake.base_url) as proxy:
        yield proxy


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], relabelling: Relabelling) -> RunningGateway:
    return make_gateway(upstreams={"openai": relabelling.url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def stored(gateway: RunningGateway) -> dict[str, Any]:
    record = gateway.wait_for_logs(1)[0]
    detail: dict[str, Any] = gateway.http.get(
        f"/api/v1/accounts/local/gateways/default/logs/{record['id']}"
    ).json()
    return {**record, **detail}


def chat(gateway: RunningGateway, *, stream: bool = False) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ASKED}], "stream": stream}
    url = f"{gateway.provider_url('openai')}/chat/completions"
    return httpx.post(url, json=body, headers={"Authorization": "Bearer sk-test"}, timeout=10)


@pytest.mark.parametrize("label", ["application/json", "text/plain", "application/octet-stream"])
def test_a_stream_labelled_otherwise_is_read_as_the_sse_it_is(
    gateway: RunningGateway, relabelling: Relabelling, client: openai.OpenAI, label: str
) -> None:
    gateway.configure(guardrails=REDACT)
    relabelling.label = label
    with client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": ASKED}], stream=True
    ) as stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "echo: my card is [CREDIT_CARD_1]"
    record = stored(gateway)
    assert record["metadata"]["guardrails"] == "response:redact:credit_card"
    assert "4111" not in record["response_body"]


@pytest.mark.parametrize("label", ["text/plain", "text/event-stream", "application/octet-stream"])
def test_a_whole_json_answer_labelled_otherwise_is_read_as_json(
    gateway: RunningGateway, relabelling: Relabelling, label: str
) -> None:
    gateway.configure(guardrails=REDACT)
    relabelling.label = label
    answer = chat(gateway)
    assert answer.status_code == 200
    assert (
        json.loads(answer.content)["choices"][0]["message"]["content"] == "echo: my card is [CREDIT_CARD_1]"
    )
    assert "4111" not in stored(gateway)["response_body"]


def test_an_sse_event_in_no_api_s_shape_is_read_whole(
    gateway: RunningGateway, relabelling: Relabelling
) -> None:
    gateway.configure(guardrails=REDACT)
    relabelling.label = "text/event-stream"
    relabelling.body = f'data: {ASKED}\n\ndata: "{ASKED}"\n\ndata: [DONE]\n\n'.encode()
    answer = chat(gateway, stream=True)
    assert answer.status_code == 200
    expected = 'data: my card is [CREDIT_CARD_1]\n\ndata: "my card is [CREDIT_CARD_1]"\n\ndata: [DONE]\n\n'
    assert answer.text == expected
    assert stored(gateway)["metadata"]["guardrails"] == "response:redact:credit_card"


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_in_no_form_is_withheld_where_a_rule_would_redact_it(
    gateway: RunningGateway, relabelling: Relabelling, client: openai.OpenAI, stream: bool
) -> None:
    gateway.configure(guardrails=REDACT)
    relabelling.label, relabelling.body = "text/plain", f"echo: {ASKED}".encode()
    with pytest.raises(openai.APIStatusError) as withheld:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": ASKED}], stream=stream
        )
    assert withheld.value.status_code == 502
    error = withheld.value.response.json()["error"]
    assert (error["code"], error["direction"], error["cloudflare_code"]) == (
        "guardrail_unreadable_answer",
        "response",
        2017,
    )
    assert "4111" not in withheld.value.response.text
    record = stored(gateway)
    assert record["metadata"]["guardrails"] == "response:block:unreadable_answer"
    assert "4111" not in record["response_body"]
    # An image (by its media type) is no text: not read, and not withheld.
    relabelling.label, relabelling.body = "image/png", PNG
    answer = chat(gateway)
    assert (answer.status_code, answer.content) == (200, PNG)
    assert "x-sluicegate-guardrails" not in answer.headers


def test_an_answer_in_no_form_is_flagged_where_rules_only_flag(
    gateway: RunningGateway, relabelling: Relabelling
) -> None:
    gateway.configure(guardrails=FLAG)
    relabelling.label, relabelling.body = "text/html", b"<p>maintenance</p>"
    answer = chat(gateway)
    assert (answer.status_code, answer.content) == (200, b"<p>maintenance</p>")
    assert answer.headers["x-sluicegate-guardrails"] == "response:flag:unreadable_answer"
