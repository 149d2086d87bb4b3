"""What a semantic lookup adds to a request: the pipeline stage timed with the real models.

    python -m bench.semantic_eval.latency [--stored N] [--queries N]

The semantic stage (`pipeline.semantic.SemanticCache`) runs in process with the packaged embedder,
NLI model and spelling vocabulary, an in-memory cache and vector index, and an upstream that
answers at once, so the time around one call is what the stage adds. The cache is first filled
with `--stored` requests (the stored side `a` of the evaluation's pairs, single questions and
conversations, stored by the stage itself as misses), then every new side `b` is asked once and
timed with `perf_counter`; the times are reported by kind (single question or conversation) and
outcome (MISS / HIT), as p50 and p99 in milliseconds. Only the stage's public interface is used,
so the same file times an older checkout (`PYTHONPATH=<old>/src`).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import time
from typing import Any

import numpy as np
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bench.semantic_eval import multiwoz, packaged
from sluicegate.embeddings.local import LocalEmbedder
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import load_verifier
from sluicegate.storage.cache import MemoryCache

ROUTE = Route("bench", "chat/completions")
ANSWER = orjson.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": {"content": "ok"}}]})
GATEWAY = Gateway(
    account="bench",
    slug="default",
    name="default",
    settings=GatewaySettings(semantic_cache_enabled=True),
    created_at=0,
)


def exchange(payload: dict[str, Any]) -> Exchange:
    body = orjson.dumps(payload)
    step = Step(OPENAI, ROUTE, CIMultiDict(), body, OPENAI.read_request(ROUTE, body))

    async def read() -> bytes:
        return body

    request = IncomingRequest("default", "openai", ROUTE, "POST", CIMultiDictProxy(CIMultiDict()), read)
    return Exchange(request, gateway=GATEWAY, plan=RequestPlan(body, [step]))


async def upstream(exchange: Exchange) -> Reply:
    return Reply(200, CIMultiDict({"Content-Type": "application/json"}), body=ANSWER)


async def run(stored: int, queries: int) -> dict[str, dict[str, float]]:
    own = [orjson.loads(line) for line in packaged.CACHE.with_name("pairs.jsonl").read_bytes().splitlines()]
    pairs = own + multiwoz.build()
    random.Random(18).shuffle(pairs)
    semantic = SemanticCache(
        LocalEmbedder(), VectorIndex(384), functools.cache(load_verifier), MemoryCache(256 << 20)
    )
    semantic.models.warm_up()
    assert await semantic.models.loaded(), "the models did not load"
    for pair in pairs[:stored]:
        await semantic(exchange(pair["a"]), upstream)
    await semantic.flush()
    times: dict[str, list[float]] = {}
    for pair in pairs[:queries]:
        request = exchange(pair["b"])
        started = time.perf_counter()
        reply = await semantic(request, upstream)
        elapsed = (time.perf_counter() - started) * 1000
        kind = "conversation" if len(pair["b"]["messages"]) > 1 else "single"
        times.setdefault(f"{kind} {reply.headers.get('x-semantic-cache', '-')}", []).append(elapsed)
        await semantic.flush()  # storing runs after the answer: keep it out of the next timing
    await semantic.close()
    return {
        key: {
            "lookups": len(found),
            "p50_ms": statistics.median(found),
            "p99_ms": float(np.percentile(found, 99)),
        }
        for key, found in sorted(times.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.semantic_eval.latency")
    parser.add_argument("--stored", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1500)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a model hub
    report = asyncio.run(run(args.stored, args.queries))
    for key, row in report.items():
        print(
            f"{key:<20} {row['lookups']:5d} lookups  p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms"
        )


if __name__ == "__main__":
    main()
