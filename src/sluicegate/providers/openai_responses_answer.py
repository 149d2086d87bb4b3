"""A cached Responses API answer served whole or streamed, whichever form it was stored in.

Wire format: https://platform.openai.com/docs/api-reference/responses-streaming — a stream opens
with `response.created` and `response.in_progress`, adds each output item (a message's content
parts and their text deltas, a function call's argument deltas) and closes with the event that
carries the whole response (`response.completed`). So a stream folds into that response, and a
response unfolds into the events that build it, each of its texts and arguments in one delta.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sluicegate.providers.base import Answer, RequestFacts, converted
from sluicegate.providers.sse import iter_json, sse_data

Event = dict[str, Any]
# The events that end a stream with the whole response, by the status it ends in.
_ENDS = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}


def responses_answer(facts: RequestFacts, stored: Answer) -> Answer | None:
    """`stored` in the form the request asks for (see `Provider.answer_as`); None when it holds no
    response to convert."""
    return converted(facts, stored, _final_response, _stream)


def _stream(response: Event) -> bytes | None:
    if response.get("object") != "response":
        return None
    return b"".join(
        sse_data({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(_events(response))
    )


def _final_response(events: bytes) -> dict[str, Any] | None:
    """The response the event that ends a stream carries."""
    for event in iter_json(events, backwards=True):
        if isinstance(event, dict) and event.get("type") in _ENDS.values():
            response = event.get("response")
            return response if isinstance(response, dict) else None
    return None


def _events(response: dict[str, Any]) -> list[Event]:
    output = [item for item in response.get("output") or () if isinstance(item, dict)]
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[Event] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(output):
        events.extend(_item_events(index, item))
    end = _ENDS.get(str(response.get("status")), "response.completed")
    events.append({"type": end, "response": response})
    return events


def _item_events(index: int, item: dict[str, Any]) -> Iterator[Event]:
    """One output item, opened, filled in one delta per text or arguments, and closed."""
    kind, item_id = item.get("type"), item.get("id")
    if kind == "message":
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "content": []},
        }
        for part_index, part in enumerate(item.get("content") or ()):
            at = {"item_id": item_id, "output_index": index, "content_index": part_index}
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(part, dict) or part.get("type") != "output_text" or not isinstance(text, str):
                yield {"type": "response.content_part.added", **at, "part": part}
                yield {"type": "response.content_part.done", **at, "part": part}
                continue
            yield {"type": "response.content_part.added", **at, "part": {**part, "text": ""}}
            yield {"type": "response.output_text.delta", **at, "delta": text, "logprobs": []}
            yield {"type": "response.output_text.done", **at, "text": text, "logprobs": []}
            yield {"type": "response.content_part.done", **at, "part": part}
    elif kind == "function_call":
        arguments = item.get("arguments") if isinstance(item.get("arguments"), str) else ""
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "arguments": ""},
        }
        at = {"item_id": item_id, "output_index": index}
        yield {"type": "response.function_call_arguments.delta", **at, "delta": arguments}
        yield {"type": "response.function_call_arguments.done", **at, "arguments": arguments}
    else:  # reasoning, tool results: added whole
        yield {"type": "response.output_item.added", "output_index": index, "item": item}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}
