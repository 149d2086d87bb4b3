"""The semantic cache's warm-up, with an embedder whose model "loads" only when the test says so:
lookups never wait for it (they are skipped, and their answers stored once it is in), and
`/healthz` answers 503 while a warm-up begun at start runs."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import numpy as np
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.endpoints.system import HealthEndpoint
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import Verifier
from sluicegate.storage.cache import MemoryCache
from sluicegate.types import CacheSource, CacheStatus

DIMENSIONS = 8
ROUTE = Route("local", "chat/completions")
ANSWER = orjson.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": {"content": "hi"}}]})


class GatedEmbedder:
    """Vectors from a hash of the text; `warm_up` returns only once `loaded` is set."""

    name = "gated"
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self.loaded = asyncio.Event()
        self.embedded: list[str] = []

    async def warm_up(self) -> None:
        await self.loaded.wait()

    async def embed(self, texts: list[str]) -> Any:
        assert self.loaded.is_set(), "embed() called before the model was loaded"
        self.embedded += texts
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIMENSIONS], np.uint8) for t in texts]
        vectors = np.array(rows, dtype=np.float32) + 1
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def close(self) -> None:
        pass


def exchange(question: str) -> Exchange:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]})
    gateway = Gateway(
        account="local",
        slug="default",
        name="default",
        settings=GatewaySettings(semantic_cache_enabled=True),
        created_at=0,
    )
    step = Step(OPENAI, ROUTE, CIMultiDict(), body, OPENAI.read_request(ROUTE, body))

    async def read() -> bytes:
        return body

    request = IncomingRequest("default", "openai", ROUTE, "POST", CIMultiDictProxy(CIMultiDict()), read)
    return Exchange(request, gateway=gateway, plan=RequestPlan(body, [step]))


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, exchange: Exchange) -> Reply:
        self.calls += 1
        return Reply(200, CIMultiDict({"Content-Type": "application/json"}), body=ANSWER)


async def health(endpoint: HealthEndpoint) -> tuple[int, Any]:
    response = await endpoint.handle(None)  # type: ignore[arg-type]  # the handler reads no request
    assert response.body is not None
    return response.status, orjson.loads(response.body)  # type: ignore[arg-type]


async def test_lookups_never_wait_for_the_models_and_health_waits_at_start() -> None:
    embedder = GatedEmbedder()
    semantic = SemanticCache(embedder, VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    endpoint = HealthEndpoint(semantic.models)
    upstream = Upstream()
    assert await health(endpoint) == (200, {"status": "ok", "semantic_cache": "cold"})

    semantic.models.warm_up(at_start=True)
    assert await health(endpoint) == (503, {"status": "starting", "semantic_cache": "warming"})
    early = exchange("How do I reset my password?")
    reply = await asyncio.wait_for(semantic(early, upstream), 5)  # answered while the model "loads"
    assert (reply.status, reply.headers["x-semantic-cache"], upstream.calls) == (200, "MISS", 1)
    assert (early.cache.status, early.cache.source) == (CacheStatus.MISS, CacheSource.SEMANTIC)
    assert embedder.embedded == []  # nothing waited on the embedder

    embedder.loaded.set()
    await asyncio.wait_for(semantic.flush(), 5)  # the early answer is stored once the model is in
    assert semantic.size() == 1
    assert await health(endpoint) == (200, {"status": "ok", "semantic_cache": "ready"})

    again = exchange("How do I reset my password?")
    hit = await semantic(again, upstream)
    assert (hit.headers["x-semantic-cache"], hit.body, upstream.calls) == ("HIT", ANSWER, 1)
    assert (again.cache.status, again.cache.source, again.cache.semantic_hit) == (
        CacheStatus.HIT,
        CacheSource.SEMANTIC,
        True,
    )
    await semantic.close()


async def test_a_warm_up_on_demand_keeps_health_ok() -> None:
    """Turned on while serving (a gateway enabled, an override): the replica stays in rotation."""
    embedder = GatedEmbedder()
    semantic = SemanticCache(embedder, VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    endpoint = HealthEndpoint(semantic.models)
    await semantic(exchange("How do I reset my password?"), Upstream())
    assert await health(endpoint) == (200, {"status": "ok", "semantic_cache": "warming"})
    embedder.loaded.set()
    await asyncio.wait_for(semantic.flush(), 5)
    assert (semantic.models.state, semantic.size()) == ("ready", 1)
    await semantic.close()


class BrokenEmbedder(GatedEmbedder):
    async def warm_up(self) -> None:
        raise RuntimeError("embedding model file not found")


async def test_models_that_do_not_load_leave_the_gateway_serving_without_the_semantic_cache() -> None:
    semantic = SemanticCache(BrokenEmbedder(), VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    endpoint = HealthEndpoint(semantic.models)
    upstream = Upstream()
    semantic.models.warm_up(at_start=True)
    for _ in range(2):
        reply = await semantic(exchange("How do I reset my password?"), upstream)
        assert reply.headers["x-semantic-cache"] == "MISS"
        await asyncio.wait_for(semantic.flush(), 5)
    assert (upstream.calls, semantic.size()) == (2, 0)
    assert await health(endpoint) == (200, {"status": "ok", "semantic_cache": "failed"})
    await semantic.close()
