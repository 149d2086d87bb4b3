"""The output items the gateway renders for Responses clients, kept so that a later request may
name them by id (`item_reference`, see ingress/openai_response_items.py) instead of sending them.

Per gateway (an id from another gateway is unknown here), for `stores.response_items_ttl` seconds
after an item was last rendered or named, in the store `storage/response_items.py` describes. The
planner puts the kept items in place before the request is translated, and before it goes to the
provider whose API the client speaks, which cannot read them either (`resolve`); the ingress
stage keeps the items of each answer it renders, before the answer's last bytes leave, so the
next turn finds them (`keeper`). A request that names no item costs a look at its `input`; an
answer is read for its items only when the store is on and the request did not say `store: false`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.errors import BadRequest, GatewayError, ServiceUnavailable
from sluicegate.exchange import IncomingRequest
from sluicegate.ingress.base import IngressFormat, ItemReferences, TranslationError, UnknownItem
from sluicegate.providers.sse import SseEvent, SseParser
from sluicegate.storage.response_items import ITEM_MAX_BYTES, ItemStore, ItemsUnavailable

_WHAT_TO_DO = "send the item itself, or set store: false (the SDKs then send every item)"


@dataclass(frozen=True, slots=True)
class Keeper:
    """Keeps the items of one rendered answer, whole (`answer`) or streamed (`closing`: the
    stream's closing events; `stream`: the whole stream, as it passes)."""

    store: ItemStore
    scope: str
    references: ItemReferences
    asked: Mapping[str, Any]

    async def answer(self, body: bytes) -> None:
        await self._keep(self.references.kept(self.asked, body))

    async def closing(self, events: bytes) -> None:
        await self._keep(self.references.kept_from_stream(self.asked, events))

    async def stream(self, events: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
        """`events`, a rendered stream as the client gets it (the guardrails' work done), each
        event let out once whole, the items of the one that closes it kept before it leaves."""
        parser = SseParser()
        async with aclosing(events):
            async for chunk in events:
                if out := await self._kept(parser.feed(chunk)):
                    yield out
        if out := await self._kept(parser.close()):
            yield out

    async def _kept(self, events: list[SseEvent]) -> bytes:
        whole = b"".join(event.raw for event in events)
        if whole:
            await self.closing(whole)
        return whole

    async def _keep(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        try:
            await self.store.put(self.scope, {item["id"]: orjson.dumps(item) for item in items})
        except ItemsUnavailable:
            return  # the answer goes out all the same; a request that names its items is told why not


@dataclass(frozen=True, slots=True)
class Resolved:
    """A request's references resolved (`ResponseItems.resolve`): `native` for a target of the
    provider whose API the client speaks, `chat` for the translation (else why it cannot be)."""

    native: dict[str, Any]
    chat: dict[str, Any] | GatewayError

    def for_chat(self) -> dict[str, Any]:
        if isinstance(self.chat, GatewayError):
            raise self.chat
        return self.chat


class ResponseItems:
    """`store` None: the gateway keeps no items, and a request naming one is a 400 that says so."""

    def __init__(self, store: ItemStore | None) -> None:
        self._store = store

    async def resolve(
        self, request: IncomingRequest, ingress: IngressFormat, payload: dict[str, Any]
    ) -> Resolved:
        """`payload` with the kept items in place of the references it makes (most make none): for
        the translations every reference resolved, else why not; for the provider whose API the
        client speaks those to items only the gateway keeps, the others left to that provider."""
        references = ingress.item_references
        if references is None:
            return Resolved(payload, payload)
        named = references.named(payload)
        if not named:  # still whole items the gateway rendered that its provider cannot read
            return Resolved(references.resolved_natively(payload, {}), payload)
        kept: dict[str, Any] = {}
        unreachable = None
        if self._store is not None:
            try:
                found = await self._store.get(_scope(request), named)
            except ItemsUnavailable as exc:
                unreachable = ServiceUnavailable(
                    f"the store of output items is unreachable ({exc}); {_WHAT_TO_DO}"
                )
            else:
                kept = {item_id: orjson.loads(data) for item_id, data in found.items()}
        native = references.resolved_natively(payload, kept)
        if unreachable is not None:
            return Resolved(native, unreachable)
        try:
            return Resolved(native, references.resolved(payload, kept))
        except UnknownItem as exc:
            where = f"input[{exc.index}]"
            refused = BadRequest(self._unknown(exc), field=where, param=where, format=ingress.name)
        except TranslationError as exc:
            refused = BadRequest(f"cannot translate the request: {exc}", format=ingress.name, param=exc.field)
        return Resolved(native, refused)

    def keeper(
        self, request: IncomingRequest, ingress: IngressFormat, asked: Mapping[str, Any]
    ) -> Keeper | None:
        """What keeps the items of the answer to `asked` (None: nothing is kept)."""
        if self._store is None or ingress.item_references is None or asked.get("store") is False:
            return None
        return Keeper(self._store, _scope(request), ingress.item_references, asked)

    def _unknown(self, exc: UnknownItem) -> str:
        where = f"input[{exc.index}]: item_reference {exc.item_id!r}"
        if self._store is None:
            off = "this gateway keeps no output items (stores.response_items_bytes is 0)"
            return f"{where}: {off}; {_WHAT_TO_DO}"
        kept = (
            f"{where} names no output item this gateway keeps: it keeps those it rendered for"
            f" {self._store.ttl:g} s after their last use (stores.response_items_ttl), up to"
            f" {ITEM_MAX_BYTES // 1024} KiB each, while they fit in stores.response_items_bytes"
        )
        if self._store.not_shared:
            kept += (
                ", in the process that rendered them: another worker (serve --workers) or replica"
                " may have, as they share no Redis (stores.cache_url)"
            )
        return f"{kept}; {_WHAT_TO_DO}"


def _scope(request: IncomingRequest) -> str:
    return f"{request.account}/{request.gateway_slug}"
