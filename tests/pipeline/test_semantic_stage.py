"""The semantic cache stage, called directly: a question asked again is answered from the cache
without going on; a gateway without the semantic cache passes every request through."""

from __future__ import annotations

import asyncio

from multidict import CIMultiDict

from sluicegate.exchange import Exchange, Reply
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import Verifier
from sluicegate.storage.cache import MemoryCache
from sluicegate.types import CacheSource, CacheStatus
from tests.pipeline.test_semantic_warm_up import ANSWER, DIMENSIONS, GatedEmbedder, exchange


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, exchange: Exchange) -> Reply:
        self.calls += 1
        return Reply(200, CIMultiDict({"Content-Type": "application/json"}), body=ANSWER)


async def loaded_cache() -> SemanticCache:
    embedder = GatedEmbedder()
    embedder.loaded.set()
    semantic = SemanticCache(embedder, VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    semantic.models.warm_up()
    assert await semantic.models.loaded()
    return semantic


async def test_a_question_asked_again_is_answered_from_the_cache() -> None:
    semantic, upstream = await loaded_cache(), Upstream()
    first = exchange("How do I reset my password?")
    await semantic(first, upstream)
    await asyncio.wait_for(semantic.flush(), 5)  # the answer is stored after the response
    assert (first.cache.status, first.cache.semantic_hit) == (CacheStatus.MISS, False)
    again = exchange("How do I reset my password?")
    reply = await semantic(again, upstream)
    assert upstream.calls == 1  # the second never went on
    assert reply.body == ANSWER
    assert (again.cache.status, again.cache.source) == (CacheStatus.HIT, CacheSource.SEMANTIC)
    assert again.cache.semantic_hit
    assert again.cache.semantic is not None
    assert again.cache.semantic.similarity > 0.99
    await semantic.close()


async def test_a_gateway_without_the_semantic_cache_passes_through() -> None:
    semantic, upstream = await loaded_cache(), Upstream()
    for _ in range(2):
        request = exchange("How do I reset my password?")
        assert request.gateway is not None
        request.gateway = request.gateway.model_copy(update={"settings": GatewaySettings()})
        await semantic(request, upstream)
        await asyncio.wait_for(semantic.flush(), 5)
        assert request.cache.status is CacheStatus.NONE
    assert upstream.calls == 2
    await semantic.close()
