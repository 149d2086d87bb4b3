"""Guardrails served, against Unicode tricks and other separators: a card, an e-mail address, a key
or a custom word written with no-break or thin spaces, tabs, dots, other scripts' digits,
zero-width characters, a soft hyphen, fullwidth forms or Cyrillic look-alikes is found in requests
and in answers (whole and streamed) as written plainly; redaction and restore work on the
characters that were sent; amounts, dates and numbers that fail Luhn pass untouched.

A real gateway on loopback, the openai SDK as client; the upstream is a small server that records
what it was sent and answers with the text a test gives it (whole, or streamed in pieces), byte
for byte: the fakes' echo splits on white space, which would turn a no-break space into a space.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

MODEL = "gpt-4o-mini"
KEY = "sk-proj-" + "a1B2c3D4" * 5
NBSP, NNBSP, ZWSP = "\u00a0", "\u202f", "\u200b"
BLOCK = {
    "pii": {"action": "block", "entities": ["credit_card", "email", "secret"], "direction": "both"},
    "custom": [{"name": "project", "words": ["Falcon"], "action": "block", "direction": "both"}],
}
# Each written so that the gateway used to miss it; the detector that now finds it.
TRICKS = {
    "card, no-break spaces": ("credit_card", "card 4111\u00a01111\u00a01111\u00a01111 ok"),
    "card, narrow no-break spaces": ("credit_card", "card 4111\u202f1111\u202f1111\u202f1111 ok"),
    "card, thin spaces": ("credit_card", "card 4111\u20091111\u20091111\u20091111 ok"),
    "card, tabs": ("credit_card", "card 4111\t1111\t1111\t1111 ok"),
    "card, dots": ("credit_card", "card 4111.1111.1111.1111 ok"),
    "card, fullwidth digits": ("credit_card", "card ４１１１１１１１１１１１１１１１ ok"),
    "card, Arabic-Indic digits": ("credit_card", "card ٤١١١١١١١١١١١١١١١ ok"),
    "e-mail, zero-width space before @": ("email", "mail bob\u200b@example.com ok"),
    "e-mail, soft hyphen in the domain": ("email", "mail bob@exam\u00adple.com ok"),
    "e-mail, fullwidth @": ("email", "mail bob＠example.com ok"),
    "OpenAI key, zero-width space inside": ("secret", f"key {KEY[:20]}\u200b{KEY[20:]} ok"),
    "custom word, Cyrillic a": ("project", "project F\u0430lcon ok"),
    "custom word, zero-width joiner": ("project", "project Fal\u200dcon ok"),
}


class Scripted:
    """An OpenAI-shaped upstream: records each chat request's body, answers `answer` (streamed
    in `piece`-character content deltas when asked for a stream)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = "ok"
        self.piece = 3
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.server = ServerThread(app)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        head = {"id": "chatcmpl-1", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            return web.json_response(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        text = self.answer
        deltas = [{"content": text[at : at + self.piece]} for at in range(0, len(text), self.piece)]
        finals: list[tuple[dict[str, Any], str | None]] = [({}, "stop")]
        for delta, finish in [*((delta, None) for delta in deltas), *finals]:
            chunk = {**head, "object": "chat.completion.chunk"}
            chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    upstream = Scripted()
    with upstream.server:
        yield upstream


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], scripted: Scripted) -> RunningGateway:
    return make_gateway(upstreams={"openai": f"{scripted.server.url}/v1"})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def ask(client: openai.OpenAI, text: str, **extra: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **extra)


@pytest.mark.parametrize(("entity", "text"), TRICKS.values(), ids=TRICKS.keys())
def test_a_disguised_value_in_a_request_is_blocked(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI, entity: str, text: str
) -> None:
    gateway.configure(guardrails=BLOCK)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, text)
    error = caught.value.response.json()["error"]
    assert (error["code"], error["entity"], error["direction"]) == ("guardrail_blocked", entity, "request")
    assert scripted.requests == []


def test_a_disguised_value_in_a_whole_answer_is_blocked(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=BLOCK)
    missed = []
    for name, (entity, text) in TRICKS.items():
        scripted.answer = text
        try:
            ask(client, "hello")
            missed.append(name)
        except openai.BadRequestError as refused:
            error = refused.response.json()["error"]
            if (error["entity"], error["direction"], error["cloudflare_code"]) != (entity, "response", 2017):
                missed.append(f"{name}: {error}")
    assert missed == []


def test_a_disguised_value_in_a_streamed_answer_is_redacted(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=BLOCK)  # a stream cannot be withdrawn: its block rules redact
    leaked = []
    for name, (entity, text) in TRICKS.items():
        scripted.answer = text
        stream = ask(client, "hello", stream=True)
        got = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        head, _, tail = text.partition(" ")
        if got != f"{head} [{entity.upper()}_1] {tail.rpartition(' ')[2]}":
            leaked.append(f"{name}: {got!r}")
    assert leaked == []


def test_redaction_replaces_the_characters_sent_and_restore_puts_them_back(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(
        guardrails={
            "pii": {"action": "redact", "entities": ["credit_card", "email"]},
            "custom": [{"name": "project", "words": ["Falcon"], "action": "redact"}],
            "restore": True,
        }
    )
    legit = (
        f"Le 15.01.2024, 1{NNBSP}000{NBSP}€ puis 4{NNBSP}111{NNBSP}111{NNBSP}111{NNBSP}111{NNBSP}111{NBSP}€, "
        f"réf. 4111{NBSP}1111{NBSP}1111{NBSP}1112 et 4111.1111.1111.1112 ; l’équipe{ZWSP} Zoé"
    )
    sent = f"{legit} : carte 4111{NBSP}1111{ZWSP}1111\t1111, écrire à bob{ZWSP}@example.com pour F\u0430lcon."
    scripted.answer = "noted: [CREDIT_CARD_1], [EMAIL_1], [PROJECT_1]"
    answer = ask(client, sent)
    (request,) = scripted.requests
    upstream = request["messages"][0]["content"]
    assert upstream == f"{legit} : carte [CREDIT_CARD_1], écrire à [EMAIL_1] pour [PROJECT_1]."
    restored = f"noted: 4111{NBSP}1111{ZWSP}1111\t1111, bob{ZWSP}@example.com, F\u0430lcon"
    assert answer.choices[0].message.content == restored


def test_a_streamed_answer_is_held_back_only_where_a_match_may_still_grow(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(
        guardrails={
            "pii": {"action": "redact", "entities": ["credit_card"]},
            "custom": [{"name": "project", "words": ["Falcon"], "action": "redact"}],
        }
    )
    scripted.answer, scripted.piece = "card 4111 1111 1111 1111 end", 9
    stream = ask(client, "hello", stream=True)
    contents = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert contents[0] == "card"  # " 4111" may be a card's start; "card" is no word of the rule's
    assert "".join(content or "" for content in contents) == "card [CREDIT_CARD_1] end"


def test_a_blocked_request_lists_every_value_found_in_its_header_and_log(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=BLOCK)
    messages = [
        {"role": "user", "content": f"card 4111{NBSP}1111{NBSP}1111{NBSP}1111 or mail bob@example.com"},
        {"role": "user", "content": f"project F\u0430lcon, key {KEY}"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=messages)
    found = "request:block:credit_card, request:block:email, request:block:project, request:block:secret"
    assert caught.value.response.headers["x-sluicegate-guardrails"] == found
    assert scripted.requests == []
    (record,) = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == found


def test_a_blocked_answer_lists_every_value_found_in_its_header(
    gateway: RunningGateway, scripted: Scripted, client: openai.OpenAI
) -> None:
    gateway.configure(guardrails=BLOCK)
    scripted.answer = f"mail bob{ZWSP}@example.com, card 4111.1111.1111.1111"
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "hello")
    found = "response:block:email, response:block:credit_card"
    assert caught.value.response.headers["x-sluicegate-guardrails"] == found
    (record,) = gateway.wait_for_logs(1)
    assert record["metadata"]["guardrails"] == found
