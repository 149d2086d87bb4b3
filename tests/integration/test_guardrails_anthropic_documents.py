"""Guardrails on the text of Anthropic's `document` and `search_result` blocks, with the official
SDK: a plain-text document's `data`, a content document's text blocks, a search result's, the same
blocks inside a tool result, and what an earlier answer's citations quote; each redacted in place,
the block kept as it was otherwise, or the request blocked. A PDF (base64 or by URL) is no text
to read and passes as it came."""

# ruff: noqa: F811  (the fixtures are test_guardrails_anthropic's)

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.test_guardrails_anthropic import client, fake, gateway  # noqa: F401  (fixtures)

MODEL = "claude-sonnet-4-6"
EMAIL = "alice.smith@example.com"
REDACTED = "[EMAIL_1]"
PDF = {
    "type": "base64",
    "media_type": "application/pdf",
    "data": "JVBERi0xLjQKYWxpY2Uuc21pdGhAZXhhbXBsZS5jb20=",
}
URL_PDF = {"type": "url", "url": "https://example.com/carol@example.net/report.pdf"}  # not read either


def configure(gateway: RunningGateway, action: str) -> None:
    guardrails = {"pii": {"action": action, "entities": ["email"]}}
    response = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"guardrails": guardrails}}
    )
    assert response.status_code == 200, response.text


def sent_blocks(
    client: anthropic.Anthropic, fake: FakeAnthropic, messages: list[Any]
) -> tuple[list[Any], str | None]:
    """The last message's blocks as they went upstream, and the guardrails header."""
    response = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=messages)
    sent = orjson.loads(fake.requests[-1].body)
    assert EMAIL not in fake.requests[-1].body.decode()
    return sent["messages"][-1]["content"], response.headers.get("x-sluicegate-guardrails")


def test_a_plain_text_document_is_redacted_and_a_pdf_passes(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, "redact")
    text = {"type": "text", "media_type": "text/plain", "data": f"Customer contact: {EMAIL}"}
    document = {
        "type": "document",
        "source": text,
        "title": f"Notes of {EMAIL}",
        "citations": {"enabled": True},
    }
    pdfs = [{"type": "document", "source": PDF}, {"type": "document", "source": URL_PDF}]
    blocks, header = sent_blocks(
        client, fake, [{"role": "user", "content": [document, *pdfs, {"type": "text", "text": "Summarise."}]}]
    )
    assert blocks[0] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": f"Customer contact: {REDACTED}"},
        "title": f"Notes of {REDACTED}",
        "citations": {"enabled": True},
    }
    assert blocks[1:3] == pdfs  # a PDF's bytes and URL are not read
    assert header == "request:redact:email"


def test_a_content_document_is_redacted(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, "redact")
    source = {"type": "content", "content": [{"type": "text", "text": f"Customer contact: {EMAIL}"}]}
    blocks, _ = sent_blocks(
        client,
        fake,
        [{"role": "user", "content": [{"type": "document", "source": source, "context": f"from {EMAIL}"}]}],
    )
    assert blocks[0]["source"] == {
        "type": "content",
        "content": [{"type": "text", "text": f"Customer contact: {REDACTED}"}],
    }
    assert blocks[0]["context"] == f"from {REDACTED}"
    # A content source may be one string too.
    string = {"type": "document", "source": {"type": "content", "content": f"Write to {EMAIL}"}}
    blocks, _ = sent_blocks(client, fake, [{"role": "user", "content": [string]}])
    assert blocks[0]["source"] == {"type": "content", "content": f"Write to {REDACTED}"}


def test_a_search_result_is_redacted(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, "redact")
    result = {
        "type": "search_result",
        "source": "https://kb.example.com/contacts",
        "title": f"Contact {EMAIL}",
        "content": [{"type": "text", "text": f"Customer contact: {EMAIL}"}],
    }
    blocks, _ = sent_blocks(
        client, fake, [{"role": "user", "content": [result, {"type": "text", "text": "Who?"}]}]
    )
    assert blocks[0] == {
        "type": "search_result",
        "source": "https://kb.example.com/contacts",
        "title": f"Contact {REDACTED}",
        "content": [{"type": "text", "text": f"Customer contact: {REDACTED}"}],
    }


def test_documents_and_search_results_in_a_tool_result_are_redacted(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, "redact")
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": f"c: {EMAIL}"},
    }
    result = {
        "type": "search_result",
        "source": "kb",
        "title": "t",
        "content": [{"type": "text", "text": EMAIL}],
    }
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "contact"}}
    tool_result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [document, result]}
    messages: list[Any] = [
        {"role": "user", "content": "Find the contact."},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [tool_result]},
    ]
    blocks, _ = sent_blocks(client, fake, messages)
    content = blocks[0]["content"]
    assert content[0]["source"] == {"type": "text", "media_type": "text/plain", "data": f"c: {REDACTED}"}
    assert content[1]["content"] == [{"type": "text", "text": REDACTED}]


def test_what_an_earlier_answer_cited_is_redacted(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    configure(gateway, "redact")
    citation = {
        "type": "char_location",
        "cited_text": f"Customer contact: {EMAIL}",
        "document_index": 0,
        "document_title": "Notes",
        "start_char_index": 0,
        "end_char_index": 41,
    }
    answer = {"type": "text", "text": "The contact is on file.", "citations": [citation]}
    messages: list[Any] = [
        {"role": "user", "content": "Who is the contact?"},
        {"role": "assistant", "content": [answer]},
        {"role": "user", "content": "Thanks."},
    ]
    client.messages.create(model=MODEL, max_tokens=64, messages=messages)
    sent = orjson.loads(fake.requests[-1].body)
    assert EMAIL not in fake.requests[-1].body.decode()
    assert sent["messages"][1]["content"][0]["citations"][0] == {
        **citation,
        "cited_text": f"Customer contact: {REDACTED}",
    }


@pytest.mark.parametrize(
    "block",
    [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": f"Contact: {EMAIL}"},
        },
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": EMAIL}]}},
        {"type": "search_result", "source": "kb", "title": "t", "content": [{"type": "text", "text": EMAIL}]},
    ],
)
def test_blocking_reads_documents_and_search_results(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic, block: dict[str, Any]
) -> None:
    configure(gateway, "block")
    messages: list[Any] = [{"role": "user", "content": [block, {"type": "text", "text": "Summarise."}]}]
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model=MODEL, max_tokens=64, messages=messages)
    assert refused.value.status_code == 400
    assert refused.value.body["error"]["code"] == "guardrail_blocked"  # type: ignore[index]
    assert fake.requests == []
