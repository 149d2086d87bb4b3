"""What a semantic lookup costs before the request goes upstream: nothing is embedded for a scope
with no entries yet (its question is embedded when stored, after the answer)."""

from __future__ import annotations

import asyncio

from multidict import CIMultiDict

from sluicegate.exchange import Exchange, Reply
from sluicegate.pipeline.semantic import SemanticCache
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
