"""How the answer guardrails take a JSON answer: to a request that asked for a stream, a JSON array
(Gemini's streamGenerateContent without `alt=sse`) is filtered element by element as it passes, or
at once when it came whole; anything else is read whole and checked, as before."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import pytest
from multidict import CIMultiDict

from sluicegate.errors import GuardrailBlocked
from sluicegate.exchange import Reply
from sluicegate.guardrails.array_stream import JsonArrayTextFilter
from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.pipeline.guardrail_streams import AnswerFilter, AnswerReaders, guard_answer
from sluicegate.providers.gemini.texts import GEMINI_TEXTS

CARD = "4111 1111 1111 1111"
WORDS = ["echo:", " pay", " 4111", " 1111", " 1111", " 1111", " now"]


def elements() -> list[bytes]:
    parts = [{"candidates": [{"index": 0, "content": {"parts": [{"text": w}]}}]} for w in WORDS]
    parts[-1]["candidates"][0]["finishReason"] = "STOP"
    return [json.dumps(part, indent=2).encode() for part in parts]


def array_filter() -> AnswerFilter:
    vault = Vault()
    scanner = Scanner(builtin_detectors(["credit_card"]))
    return JsonArrayTextFilter(GEMINI_TEXTS, lambda: TextPipe(StreamRedactor(scanner, vault), None))


def text(body: bytes) -> str:
    return "".join(
        part["text"] for element in json.loads(body) for part in element["candidates"][0]["content"]["parts"]
    )


class Checked:
    """`check` and `ended` as the stage gives them, noting what they were given."""

    def __init__(self) -> None:
        self.whole: list[bytes] = []
        self.ended: list[AnswerFilter] = []

    def check(self, body: bytes) -> bytes:
        self.whole.append(body)
        if b"4111" in body:
            raise GuardrailBlocked("blocked", detector="card", entity="credit_card", direction="response")
        return body

    def end(self, text_filter: AnswerFilter) -> None:
        self.ended.append(text_filter)


def reply(*, body: bytes = b"", stream: AsyncGenerator[bytes, None] | None = None) -> Reply:
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json", "Content-Length": "9"})
    return Reply(200, headers, body=body, stream=stream)


async def chunks(pieces: list[bytes], asked: list[int]) -> AsyncGenerator[bytes, None]:
    """`pieces` one by one, noting in `asked` how many were asked for."""
    for number, piece in enumerate(pieces, 1):
        asked.append(number)
        yield piece


def unused() -> AnswerFilter:
    raise AssertionError("a JSON answer is read as JSON")


async def guard(answer: Reply, checked: Checked, *, streamed: bool = True) -> None:
    readers = AnswerReaders(
        sse=unused, array=array_filter, lines=unused, check=checked.check, ended=checked.end
    )
    await guard_answer(answer, streamed, readers)


async def test_a_streamed_array_is_filtered_as_it_passes() -> None:
    pieces = [b"[" + elements()[0], *(b"\n,\r\n" + element for element in elements()[1:]), b"\n]"]
    asked: list[int] = []
    answer, checked = reply(stream=chunks(pieces, asked)), Checked()
    await guard(answer, checked)
    assert answer.stream is not None
    first = await anext(answer.stream)
    assert json.loads(first.removeprefix(b"["))["candidates"][0]["index"] == 0  # one element, whole
    assert asked == [1]  # the first element went out before the second was read
    rest = b"".join([chunk async for chunk in answer.stream])
    assert text(first + rest) == "echo: pay [CREDIT_CARD_1] now"
    # Told once a finding is made (before its bytes go out) and again at the end, of one filter.
    assert len({id(told) for told in checked.ended}) == 1
    assert [span.entity for span in checked.ended[-1].spans] == ["credit_card"]
    assert checked.whole == []


async def test_an_array_that_came_whole_is_filtered_at_once() -> None:
    answer, checked = reply(body=b"[" + b"\n,\r\n".join(elements()) + b"\n]"), Checked()
    await guard(answer, checked)
    assert text(answer.body) == "echo: pay [CREDIT_CARD_1] now"
    assert "Content-Length" not in answer.headers
    assert [span.entity for span in checked.ended[0].spans] == ["credit_card"]


@pytest.mark.parametrize(
    ("streamed", "body"),
    [
        # A stream asked for, answered with one object (a server that ignores the ask): a whole answer.
        (True, json.dumps({"candidates": [{"content": {"parts": [{"text": CARD}]}}]}).encode()),
        # An array answering a request that asked for no stream is no stream either.
        (False, b"[" + b",".join(elements()) + b"]"),
    ],
)
async def test_anything_else_is_read_whole_and_checked(streamed: bool, body: bytes) -> None:
    # Relayed (what comes first only white space), or come whole.
    for answer, whole in [
        (reply(stream=chunks([b" ", body[:5], body[5:]], [])), b" " + body),
        (reply(body=body), body),
    ]:
        checked = Checked()
        with pytest.raises(GuardrailBlocked):  # a blocking rule refuses it: nothing was sent yet
            await guard(answer, checked, streamed=streamed)
        assert checked.whole == [whole]
        assert checked.ended == []


async def test_findings_are_told_before_the_bytes_that_carry_them_go_out() -> None:
    """A client may hang up on the last event it needs (an SDK leaves at the end of the answer),
    ending the request before the stream is closed: the record, built then, must have them."""
    pieces = [b"[" + elements()[0], *(b"\n,\r\n" + element for element in elements()[1:]), b"\n]"]
    answer, checked = reply(stream=chunks(pieces, [])), Checked()
    await guard(answer, checked)
    assert answer.stream is not None
    async for chunk in answer.stream:
        if b"CREDIT_CARD_1" in chunk:
            assert [span.entity for span in checked.ended[-1].spans] == ["credit_card"]
            break
    else:
        raise AssertionError("the card never went out redacted")
    await answer.stream.aclose()
