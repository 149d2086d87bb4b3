"""The token estimator counts the text of Anthropic's documents and search results, at top level
and in a tool result, and nothing of a PDF (its base64, its URL)."""

from __future__ import annotations

from sluicegate.usage.tokens import REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, TokenCounter


def test_anthropic_documents_and_search_results_count_their_text() -> None:
    counter = TokenCounter()

    def count(text: str) -> int:
        return counter.count_text(text, "gpt-4o")

    plain = {"type": "text", "media_type": "text/plain", "data": "The sluice opens at dawn."}
    blocks = [
        {"type": "document", "source": plain, "title": "Gate log", "context": "Written by the keeper."},
        {
            "type": "document",
            "source": {"type": "content", "content": [{"type": "text", "text": "Tide high."}]},
        },
        # A PDF's base64 and URL count nothing.
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 800},
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/log.pdf"}},
        {
            "type": "search_result",
            "source": "kb://gates",
            "title": "Gates",
            "content": [{"type": "text", "text": "Shut."}],
        },
    ]
    result = {"type": "tool_result", "tool_use_id": "t1", "content": blocks[:1]}
    turns = [{"role": "user", "content": [*blocks, result]}]
    expected = TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS + count("user")
    expected += 2 * (count("The sluice opens at dawn.") + count("Gate log") + count("Written by the keeper."))
    expected += count("Tide high.") + count("kb://gates") + count("Gates") + count("Shut.")
    assert counter.count_any_input({"messages": turns}, "gpt-4o") == expected
