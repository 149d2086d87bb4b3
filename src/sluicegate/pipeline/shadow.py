"""Shadow mode: a sample of semantic hits is also sent upstream, after the hit is answered, and
the fresh answer compared with the cached one. The verdicts estimate the semantic cache's
precision on the gateway's own traffic (analytics) and feed `semantic_max_error`
(`semantic.adaptive`).

A shadow request is the hit's request again, under a log id of its own: it goes through the rest
of the pipeline after the semantic cache (rate limits and budgets, retries, the upstream), and the
`Log` stage completes it like any request, so it is logged (`cache_source` "shadow", `shadow_of`
the hit's id, the verdict in `shadow_agreed`, the answers' cosine in `semantic_score`), metered,
and counted against the gateway's rate limits and budgets: it is real upstream spend. One that a
limit refuses is not retried. The client never sees it: it starts after the hit's answer is
handed back, nothing of it reaches the hit's response, and the client's request does not wait.

Sampling: each hit is shadowed with probability `semantic_shadow_rate`, at most
`semantic_shadow_per_minute` per gateway and replica.

Agreement: the two answers' text (the provider's `output_text`, streamed or whole) are embedded
with the semantic cache's embedder; they agree when identical or when their cosine is at least
`AGREEMENT`. A paraphrased answer agrees; an answer about something else does not. It is a
heuristic: two answers that differ in one number or name may still agree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sluicegate.exchange import Exchange, Reply, RequestPlan, new_log_id
from sluicegate.exchange_records import CacheOutcome, GuardrailReport, SemanticJudgement
from sluicegate.pipeline import Handler, Stage
from sluicegate.pipeline.cache import answer_text, replay
from sluicegate.semantic.adaptive import AdaptiveThresholds
from sluicegate.storage.cache import CacheEntry
from sluicegate.types import CacheSource

_log = logging.getLogger(__name__)
AGREEMENT = 0.8  # cosine of the two answers' embeddings from which they agree
Compare = Callable[[str, str], Awaitable[float]]  # the cosine of two texts' embeddings


class Shadow:
    def __init__(
        self,
        log: Stage,
        compare: Compare,
        adaptive: AdaptiveThresholds,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._log = log  # the outermost stage: completes (meters, logs) each shadow request
        self._compare = compare
        self._adaptive = adaptive
        self._clock = clock
        self._draw = draw
        self._minutes: dict[str, tuple[int, int]] = {}  # gateway -> (minute, shadows sent in it)
        self._pending: set[asyncio.Task[Any]] = set()

    def consider(
        self, exchange: Exchange, entry: CacheEntry, similarity: float, call_next: Handler, gateway: str
    ) -> None:
        """A semantic hit was answered from `entry`: shadow it if sampled and within the cap."""
        settings = exchange.gateway.settings if exchange.gateway else None
        if settings is None or settings.semantic_shadow_rate <= 0:
            return
        if self._draw() >= settings.semantic_shadow_rate or not self._admit(
            gateway, settings.semantic_shadow_per_minute
        ):
            return
        shadow = _shadow_of(exchange, similarity, self._clock())
        cached = answer_text(exchange.request, exchange.plan, entry.body, entry.streamed)
        task = asyncio.create_task(self._run(shadow, cached, call_next, gateway))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _admit(self, gateway: str, per_minute: int) -> bool:
        minute = int(self._clock() // 60)
        seen, sent = self._minutes.get(gateway, (minute, 0))
        sent = sent if seen == minute else 0
        if sent >= per_minute:
            return False
        self._minutes[gateway] = (minute, sent + 1)
        return True

    async def _run(self, shadow: Exchange, cached: str, call_next: Handler, gateway: str) -> None:
        async def fetch_and_compare(exchange: Exchange) -> Reply:
            reply = await call_next(exchange)
            body = reply.body
            if reply.stream is not None:
                body = b"".join([chunk async for chunk in reply.stream])
            if 200 <= reply.status < 300:
                fresh = answer_text(exchange.request, exchange.plan, body, reply.stream is not None)
                score = 1.0 if fresh == cached else await self._compare(cached, fresh)
                exchange.cache.shadow_agreed = score >= AGREEMENT
                if exchange.cache.semantic is not None:
                    exchange.cache.semantic.score = score
                    self._adaptive.record(
                        gateway, exchange.cache.semantic.similarity, exchange.cache.shadow_agreed
                    )
            if reply.stream is not None:  # completed by the Log stage at its end, as streams are
                return Reply(reply.status, reply.headers, stream=replay(body))
            return Reply(reply.status, reply.headers, body=body)

        try:
            reply = await self._log(shadow, fetch_and_compare)
            if reply.stream is not None:
                async for _ in reply.stream:
                    pass
        except Exception:  # the client has its answer; a failed check is logged, never raised
            _log.exception("shadow request %s failed", shadow.request.id)

    async def close(self) -> None:
        """Wait for the shadow requests under way (their records are written by the log writer)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _shadow_of(exchange: Exchange, similarity: float, now: float) -> Exchange:
    """The hit's request again, as a request of its own (a new id, times and outcome)."""
    gateway_guardrails = exchange.gateway.settings.guardrails if exchange.gateway else None
    options, plan, found = exchange.options, exchange.plan, exchange.guardrails
    return Exchange(
        request=dataclasses.replace(
            exchange.request, id=new_log_id(), received_at=now, started=time.perf_counter()
        ),
        gateway=exchange.gateway,
        options=dataclasses.replace(
            options,
            metadata=dict(options.metadata),
            # Its answer skips the guardrails' answer filter (that stage comes before this one): on
            # a gateway with guardrails its bodies are not logged, lest what they redact be stored.
            collect_payload=options.collect_payload and gateway_guardrails is None,
        ),
        token=exchange.token,
        from_page=exchange.from_page,
        plan=RequestPlan(plan.body, list(plan.steps), plan.route_plan, plan.hub),
        guardrails=GuardrailReport(list(found.findings), list(found.restored)),
        cache=CacheOutcome(
            source=CacheSource.SHADOW, semantic=SemanticJudgement(similarity), shadow_of=exchange.request.id
        ),
    )
