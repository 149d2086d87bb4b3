"""What a semantic lookup costs before the request goes upstream: nothing is embedded for a scope
with no entries yet (its question is embedded when stored, after the answer). What a request asks
of the semantic cache, read from plain inputs (`read_lookup`)."""

from __future__ import annotations

import asyncio
import dataclasses

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import Exchange, Reply, RequestPlan
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.pipeline.semantic_lookup import read_lookup
from sluicegate.semantic.adaptive import AdaptiveThresholds
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import Verifier
from sluicegate.storage.cache import MemoryCache
from tests.pipeline.test_semantic_warm_up import ANSWER, DIMENSIONS, GatedEmbedder, exchange


async def test_an_empty_scope_is_not_embedded_before_the_answer() -> None:
    embedder = GatedEmbedder()
    embedder.loaded.set()
    semantic = SemanticCache(embedder, VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    semantic.models.warm_up()
    assert await semantic.models.loaded()
    seen: list[list[str]] = []

    async def upstream(exchange: Exchange) -> Reply:
        seen.append(list(embedder.embedded))
        return Reply(200, CIMultiDict({"Content-Type": "application/json"}), body=ANSWER)

    await semantic(exchange("How do I reset my password?"), upstream)
    await asyncio.wait_for(semantic.flush(), 5)
    assert seen == [[]]  # nothing embedded on the way upstream: the scope had no entries
    assert embedder.embedded == ["How do I reset my password?"]  # embedded when stored
    await semantic(exchange("How do I change my password?"), upstream)
    assert seen[1] == ["How do I reset my password?", "How do I change my password?"]  # looked up
    await semantic.close()


def test_the_lookup_is_read_from_the_request_gateway_and_plan_alone() -> None:
    plain = exchange("How do I reset my password?")
    assert plain.gateway is not None
    adaptive = AdaptiveThresholds()
    lookup = read_lookup(plain.request, plain.gateway, plain.plan, adaptive)
    assert lookup is not None
    assert (lookup.gateway, lookup.threshold, lookup.scoped.text) == (
        "local/default",
        plain.gateway.settings.semantic_threshold,
        "How do I reset my password?",
    )
    asked = CIMultiDictProxy(CIMultiDict({"x-semantic-threshold": "0.5", "cache-control": "no-store"}))
    own = read_lookup(dataclasses.replace(plain.request, headers=asked), plain.gateway, plain.plan, adaptive)
    assert own is not None
    assert (own.threshold, own.lookup, own.store) == (0.5, True, False)
    listing = dataclasses.replace(plain.request, method="GET")
    assert read_lookup(listing, plain.gateway, plain.plan, adaptive) is None
    assert read_lookup(plain.request, plain.gateway, RequestPlan(), adaptive) is None
