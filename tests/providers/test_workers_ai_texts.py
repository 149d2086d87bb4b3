"""What guardrails read of Workers AI's native answers (providers/workers_ai/texts.py) in the shapes
the fake upstream does not send: JSON mode's object, newer models' OpenAI-shaped `result`, gpt-oss's
Responses `output`, and calls streamed whole by older models."""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.policy import GuardrailsPolicy
from sluicegate.guardrails.sse import SseTextFilter
from sluicegate.pipeline.guardrail_findings import Findings
from sluicegate.pipeline.guardrails import answer_pipes, check_answer, compile_policy
from sluicegate.providers.sse import sse_data
from sluicegate.providers.workers_ai.texts import WORKERS_AI_TEXTS

CARD = "4111 1111 1111 1111"
COMPILED = compile_policy(
    GuardrailsPolicy.model_validate({"pii": {"action": "redact", "entities": ["credit_card"]}})
)


def checked(result: dict[str, Any], request: Any = None) -> dict[str, Any]:
    text_format = WORKERS_AI_TEXTS.answering(request or {})
    body = orjson.dumps({"result": result, "success": True, "errors": [], "messages": []})
    out = check_answer(body, text_format, COMPILED.guard, Vault(), Findings([]), restore=False)
    answer: dict[str, Any] = orjson.loads(out)["result"]
    return answer


def streamed(events: list[dict[str, Any]]) -> list[Any]:
    text_filter = SseTextFilter(WORKERS_AI_TEXTS, answer_pipes(COMPILED, Vault(), restore=False))
    raw = b"".join(text_filter.feed(sse_data(event)) for event in events)
    raw += text_filter.feed(b"data: [DONE]\n\n") + text_filter.close()
    return [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith(b"data: {")]


def test_json_modes_object_and_json_text_stay_json() -> None:
    asked = {"response_format": {"type": "json_schema", "json_schema": {"type": "object"}}}
    assert checked({"response": {"card": CARD, "n": 4111111111111111}}, asked)["response"] == {
        "card": "[CREDIT_CARD_1]",
        "n": "[CREDIT_CARD_2]",
    }
    text = checked({"response": orjson.dumps({"note": f"to:\n{CARD}"}).decode()}, asked)["response"]
    assert orjson.loads(text) == {"note": "to:\n[CREDIT_CARD_1]"}


def test_calls_in_either_form_and_openai_and_responses_shapes_are_read() -> None:
    calls = [
        {"name": "f", "arguments": {"card": CARD}},
        {"id": "c", "type": "function", "function": {"name": "g", "arguments": f'{{"card": "{CARD}"}}'}},
    ]
    found = checked({"response": None, "tool_calls": calls})["tool_calls"]
    assert found[0]["arguments"] == {"card": "[CREDIT_CARD_1]"}
    assert orjson.loads(found[1]["function"]["arguments"]) == {"card": "[CREDIT_CARD_1]"}
    message = {"role": "assistant", "content": CARD, "reasoning_content": CARD}
    choice = checked({"choices": [{"index": 0, "message": message}]})["choices"][0]
    assert (choice["message"]["content"], choice["message"]["reasoning_content"]) == ("[CREDIT_CARD_1]",) * 2
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": CARD}]}
    assert checked({"output": [item]})["output"][0]["content"][0]["text"] == "[CREDIT_CARD_1]"


def test_a_call_streamed_whole_and_openai_chunks_are_read() -> None:
    events = streamed(
        [
            {"tool_calls": [{"name": "f", "arguments": {"card": CARD}}]},
            {"tool_calls": [{"name": "g", "arguments": f'{{"card": "{CARD}"}}'}]},
            {"choices": [{"index": 0, "delta": {"content": "4111 1111"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": " 1111 1111"}, "finish_reason": "stop"}]},
        ]
    )
    assert events[0]["tool_calls"][0]["arguments"] == {"card": "[CREDIT_CARD_1]"}
    assert orjson.loads(events[1]["tool_calls"][0]["arguments"]) == {"card": "[CREDIT_CARD_1]"}
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[2:]) == "[CREDIT_CARD_1]"


def test_other_tasks_inputs_and_answers_are_read() -> None:
    body: dict[str, Any] = {"text": ["hi", CARD], "input_text": CARD, "source_lang": "en"}
    found = [text.value for text in WORKERS_AI_TEXTS.request_texts(body)]
    assert found == [CARD, "hi", CARD]  # `input_text`, then each string of `text`
    assert [text.value for text in WORKERS_AI_TEXTS.request_texts({"text": CARD})] == [CARD]
    answer = checked({"translated_text": CARD, "summary": CARD})
    assert (answer["translated_text"], answer["summary"]) == ("[CREDIT_CARD_1]",) * 2
