"""The Responses API's `item_reference`: an earlier output item named by its id instead of sent.

A client that leaves `store` true (OpenAI's default) may send an earlier answer's items back by id,
`{"type": "item_reference", "id": "msg_…"}`: the Vercel AI SDK's `responses` models do for the
assistant's text. The gateway keeps the output items it rendered (pipeline/response_items.py); this
module says which ids a request names, puts the kept items in their place, and reads the items of a
rendered answer, whole or streamed, that a later request may name.
https://platform.openai.com/docs/api-reference/responses/create#responses-create-input
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sluicegate.ingress.base import TranslationError, UnknownItem, mapping
from sluicegate.ingress.reasoning_items import PREFIX as SEALED
from sluicegate.providers.sse import iter_json

ITEM_REFERENCE: Final = "item_reference"
# The events that end a rendered stream with the whole Response (openai_responses_stream.py).
_LAST_EVENTS: Final = ("response.completed", "response.incomplete")
# What only their data holds (an answer's text has its quotes escaped): any other event is not parsed.
_LAST_MENTIONS: Final = tuple(f'"{kind}"'.encode() for kind in _LAST_EVENTS)


@dataclass(frozen=True, slots=True)
class ResponseItemReferences:
    """`item_reference`s in a Responses request, and the output items of a Responses answer."""

    def named(self, payload: Mapping[str, Any]) -> list[str]:
        """The ids the request's `input` names instead of sending the items (most name none)."""
        items = payload.get("input")
        if not isinstance(items, list):
            return []
        return [
            item["id"]
            for item in items
            if isinstance(item, dict)
            and item.get("type") == ITEM_REFERENCE
            and isinstance(item.get("id"), str)
        ]

    def resolved(self, payload: dict[str, Any], kept: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """`payload` with each reference in its `input` replaced by the item `kept` has for its id;
        `UnknownItem` names the first one it has not."""
        return _resolved(payload, kept, native=False)

    def resolved_natively(
        self, payload: dict[str, Any], kept: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The same for OpenAI's own `/responses`, which cannot read the items the gateway keeps:
        a reference `kept` has no item for stays (an item OpenAI stored, its to resolve), and a
        kept reasoning item is left out, as is one sent whole whose `encrypted_content` the gateway
        sealed: the thinking of another provider, which OpenAI refuses ("Item with id 'rs_…' not
        found."), as an item of OpenAI's is dropped on the way to another provider."""
        return _resolved(payload, kept, native=True)

    def kept(self, asked: Mapping[str, Any], answer: bytes) -> list[dict[str, Any]]:
        """The output items of a rendered Response (`answer`, its JSON) to keep: none when the
        request said `store: false`."""
        if asked.get("store") is False:
            return []
        return _items(orjson.loads(answer))

    def kept_from_stream(self, asked: Mapping[str, Any], closing: bytes) -> list[dict[str, Any]]:
        """The same for a rendered stream, from its `closing` events (or any of its events: only
        the last one holds the whole Response; a stream that ended in an error holds none)."""
        if asked.get("store") is False:
            return []
        for event in iter_json(closing, backwards=True, mentioning=_LAST_MENTIONS):
            if isinstance(event, dict) and event.get("type") in _LAST_EVENTS:
                return _items(event.get("response"))
        return []


def _resolved(
    payload: dict[str, Any], kept: Mapping[str, Mapping[str, Any]], *, native: bool
) -> dict[str, Any]:
    items = payload.get("input")
    if not isinstance(items, list):
        return payload
    resolved = []
    for index, item in enumerate(items):
        if native and _sealed_here(item):
            continue
        if isinstance(item, dict) and item.get("type") == ITEM_REFERENCE:
            item_id = item.get("id")
            found = kept.get(item_id) if isinstance(item_id, str) else None
            if found is None and not native:
                if not isinstance(item_id, str):
                    raise TranslationError("an item_reference needs a string id", field=f"input[{index}].id")
                raise UnknownItem(index, item_id)
            if found is not None:
                if native and found.get("type") == "reasoning":
                    continue
                # OpenAI refuses input items whose `id` it never stored ("Item with id ... not
                # found"); the id is optional on input, and a call's link is its `call_id`.
                item = {k: v for k, v in found.items() if k != "id"} if native else found
        resolved.append(item)
    return {**payload, "input": resolved}


def _sealed_here(item: Any) -> bool:
    """Whether `item` is a reasoning item the gateway rendered, another provider's thinking in it."""
    if not isinstance(item, dict) or item.get("type") != "reasoning":
        return False
    content = item.get("encrypted_content")
    return isinstance(content, str) and content.startswith(SEALED)


def _items(response: Any) -> list[dict[str, Any]]:
    output = mapping(response).get("output")
    if not isinstance(output, list):
        return []
    return [item for item in output if isinstance(item, dict) and isinstance(item.get("id"), str)]


RESPONSE_ITEM_REFERENCES = ResponseItemReferences()
