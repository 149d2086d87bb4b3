"""What the fake OpenAI's Responses API remembers of the responses it gave, and what it refuses for it.

OpenAI keeps a response it answered (unless the request said `store: false`): its conversation, the
input it was given and the output it wrote, each output item under its id, and the response itself,
which a client reads again by id (`GET /v1/responses/{id}`: how a background response is polled).
A later request may name them: `previous_response_id` continues a kept response, an
`item_reference` (or an input item given by `id` alone) stands for a kept item, a `reasoning` item
must be one OpenAI wrote, and a `function_call_output` must answer a `function_call` of its
`call_id`, in the input or the previous response's conversation. What it cannot find, OpenAI
refuses, in these shapes:

    Previous response with id 'resp_…' not found.        400, param previous_response_id,
                                                          code previous_response_not_found
    Item with id 'rs_…' not found.                        404, param input (with `store: false`, the
                                                          hint that such items are not kept)
    No tool call found for function call output with
    call_id call_….                                       400, param input

(seen in https://github.com/maximhq/bifrost/issues/2441, https://github.com/home-assistant/core/
issues/150251 and https://github.com/continuedev/continue/issues/10092). The fake's Responses
answers are messages only, so a reasoning item in the input is always one it never wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

UNSTORED_HINT = (
    " Items are not persisted when `store` is set to false. Try again with `store` set to true, or"
    " remove this item from your input."
)


@dataclass(frozen=True)
class Refusal:
    """An OpenAI error for a request that names what was never kept."""

    status: int
    message: str
    param: str
    code: str | None = None


class ResponseStore:
    """The kept responses (id -> their conversation's items; id -> the response, which `GET
    /v1/responses/{id}` reads) and output items (id -> item). A background response (`background:
    true`) is answered `queued`, and found done by its first read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conversations: dict[str, list[dict[str, Any]]] = {}
        self._items: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, dict[str, Any]] = {}

    def read(self, response_id: str) -> dict[str, Any] | None:
        """A kept response as `GET /v1/responses/{id}` answers it (a background one done by now)."""
        with self._lock:
            return self._responses.get(response_id)

    def refusal(self, body: dict[str, Any]) -> Refusal | None:
        """Why OpenAI would refuse this request for what it names, None when it finds it all."""
        previous = body.get("previous_response_id")
        with self._lock:
            history = self._conversations.get(previous) if isinstance(previous, str) else []
            if history is None:
                message = f"Previous response with id '{previous}' not found."
                return Refusal(400, message, "previous_response_id", "previous_response_not_found")
            resolved: list[dict[str, Any]] = []
            for item in _input_items(body.get("input")):
                if _by_reference(item) or item.get("type") == "reasoning":
                    found = self._items.get(str(item.get("id")))
                    if found is None:
                        hint = UNSTORED_HINT if body.get("store") is False else ""
                        return Refusal(404, f"Item with id '{item.get('id')}' not found.{hint}", "input")
                    item = found
                resolved.append(item)
        calls = {item.get("call_id") for item in [*history, *resolved] if item.get("type") == "function_call"}
        for item in resolved:
            if item.get("type") == "function_call_output" and item.get("call_id") not in calls:
                message = f"No tool call found for function call output with call_id {item.get('call_id')}."
                return Refusal(400, message, "input")
        return None

    def keep(self, body: dict[str, Any], response: dict[str, Any]) -> None:
        """Keep an answered response, as OpenAI does unless the request said `store: false`."""
        if body.get("store") is False:
            return
        previous = body.get("previous_response_id")
        output = [item for item in response.get("output") or () if isinstance(item, dict)]
        with self._lock:
            history = self._conversations.get(previous, []) if isinstance(previous, str) else []
            inputs = [self._items.get(str(item.get("id")), item) for item in _input_items(body.get("input"))]
            self._conversations[str(response["id"])] = [*history, *inputs, *output]
            self._items.update((str(item["id"]), item) for item in output if "id" in item)
            self._responses[str(response["id"])] = response


def _input_items(source: Any) -> Iterator[dict[str, Any]]:
    """The input's items (a bare string is one user message, and names nothing)."""
    if isinstance(source, list):
        yield from (item for item in source if isinstance(item, dict))


def _by_reference(item: dict[str, Any]) -> bool:
    """An `item_reference`, or an item given by its id alone (the type is then optional)."""
    return item.get("type") == "item_reference" or (set(item) == {"id"})
