"""`title`, `context`, `source` and `data` count as prompt text in Anthropic's `document` and
`search_result` blocks only: every provider's bodies are read with every provider's keys, and
elsewhere (a tool's arguments, another API's objects) these keys hold no prompt."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.usage.tokens import REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, TokenCounter

MODEL = "gpt-4o"


def test_an_openai_chat_body_whose_tool_has_title_and_source_counts_them_in_the_tools_only() -> None:
    counter = TokenCounter()

    def count(text: str) -> int:
        return counter.count_text(text, MODEL)

    schema = {
        "type": "object",
        "title": "Lookup",
        "properties": {"title": {"type": "string", "title": "Title"}, "source": {"type": "string"}},
    }
    tools = [
        {"type": "function", "function": {"name": "lookup", "description": "Find", "parameters": schema}}
    ]
    # The call's arguments as an object, as some OpenAI-compatible clients send them, under the
    # schema's `title` and `source`: these count nothing, as before Anthropic documents were counted
    # (an object's values count under text-bearing keys only; standard string arguments count whole).
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": {"title": "Dune", "source": "library"}},
    }
    messages = [{"role": "user", "content": "Find Dune."}, {"role": "assistant", "tool_calls": [call]}]
    body = {"model": MODEL, "messages": messages, "tools": tools}

    expected = REPLY_PRIMING_TOKENS + 2 * TOKENS_PER_MESSAGE
    expected += count("user") + count("Find Dune.") + count("assistant") + count("lookup")
    expected += count(orjson.dumps(tools).decode())
    assert counter.count_any_input(body, MODEL) == expected


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        # Replicate's input: a model's own parameters
        ({"input": {"prompt": "Sing.", "title": "Dawn song", "source": "a poem"}}, ["Sing."]),
        # top-level keys of no provider's API
        ({"prompt": "Hi.", "title": "x y z", "context": "a b c", "source": "q r s"}, ["Hi."]),
        # an Anthropic tool call's arguments
        (
            {
                "content": [
                    {"type": "tool_use", "id": "t", "name": "f", "input": {"title": "Dune", "context": "SF"}}
                ]
            },
            ["f"],
        ),
        # a text part with a `data` key, outside a document
        ({"content": [{"type": "text", "text": "Hi.", "data": "one two three four"}]}, ["Hi."]),
        # a search result's title and source are read in a `search_result` block only
        ({"content": [{"type": "web_search_result", "title": "Gates", "source": "kb://gates"}]}, []),
    ],
)
def test_title_context_source_and_data_count_nothing_outside_documents(
    body: dict[str, object], texts: list[str]
) -> None:
    counter = TokenCounter()
    assert counter.count_any_input(body, MODEL) == sum(counter.count_text(text, MODEL) for text in texts)
