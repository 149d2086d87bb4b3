"""The semantic cache: a question close enough in meaning to an earlier one, in the same scope,
gets that earlier answer. Fastly AI Accelerator's headers; runs only when the exact cache missed.

A hit needs cosine similarity ≥ the threshold *and* the verifier's agreement (rules for negation,
numbers, entities, scope; an NLI model for the rest): see `bench/semantic_eval` for why both. In a
conversation every compared turn must pass both (`semantic.history` says which turns, and
`semantic.compare` how); a misspelt word takes the nearest candidate's spelling and is embedded
again before it is judged. Embedding, search and verification run off the event loop; storing
runs after the answer. A hit is served in the form its request asks for, whole or streamed
(`cache.served`), whichever it was stored in.
With the gateway's `cache_per_key`, the scope holds a digest of the provider key, so another key
(or none) searches another partition; replicas learn of entries with their scope, key included.

The models load in the background (`semantic.models`), never on a request's path: until they are
ready a lookup is skipped (the request goes upstream, logged as a semantic MISS) and its answer is
stored once they are. The shared cache (Redis) out of reach: a lookup misses, nothing is stored.
A fault of the stage's own in reading or judging a question sends it upstream uncached (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, NamedTuple

import numpy as np
from multidict import CIMultiDict

from sluicegate.config_groups import MAX_BODY_BYTES
from sluicegate.embeddings.base import Embedder
from sluicegate.errors import GatewayError
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan
from sluicegate.exchange_records import SemanticJudgement
from sluicegate.gateway import Gateway
from sluicegate.pipeline import Handler, Stage
from sluicegate.pipeline.cache import asked, mark_storable, replayable, served
from sluicegate.pipeline.cache_labels import SEMANTIC_STATUS_HEADER as STATUS_HEADER
from sluicegate.pipeline.cache_labels import STATUS_HEADER as EXACT_STATUS_HEADER
from sluicegate.pipeline.cache_streams import StreamCopy, kept_stream, whole_answer
from sluicegate.pipeline.hit_usage import asks_usage, counted_entry
from sluicegate.pipeline.semantic_lookup import Lookup, read_lookup
from sluicegate.pipeline.semantic_turns import replayed_headers, stored_turns, turn_headers
from sluicegate.pipeline.shadow import Shadow
from sluicegate.semantic.adaptive import AdaptiveThresholds
from sluicegate.semantic.compare import (
    ALIGN_FLOOR,
    align_turns,
    embedded,
    lowest_cosine,
    misspelt,
    verify_turns,
)
from sluicegate.semantic.feed import VectorFeed
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.models import Models
from sluicegate.semantic.verify import Verifier
from sluicegate.semantic_report import GatewayThreshold
from sluicegate.storage.cache import Cache, CacheEntry, CacheUnavailable
from sluicegate.types import CacheSource, CacheStatus
from sluicegate.usage.tokens import TokenCounter

SIMILARITY_HEADER = "x-semantic-similarity"
# From this similarity a candidate the lookup did not verify is verified after the answer, so the
# threshold what-if (`semantic_whatif`) knows which lookups would have hit at a lower threshold.
WHAT_IF_FLOOR = 0.70
# The cosine of two float32 unit vectors of one text comes out 0.99999994 as often as 1.0000001: a
# similarity within this of a threshold reaches it, so a threshold of 1 serves the very same question.
ROUNDING = 1e-6


class Found(NamedTuple):
    """What a semantic lookup found: on a hit, the `entry` and its `reply`; hit or miss, the best
    candidate's `judged` (None: no candidate) and the question's `vectors` (None: not embedded)."""

    vectors: np.ndarray[Any, Any] | None = None
    judged: SemanticJudgement | None = None
    entry: CacheEntry | None = None
    reply: Reply | None = None  # None with an `entry`: it cannot take the form asked for, a miss
    record_after: asyncio.Future[Any] | None = None  # a verdict after the answer: see CacheOutcome
    usage_counted: bool = False  # the hit's usage is the gateway's count (`hit_usage`)


_NOT_LOOKED_UP = Found()
_log = logging.getLogger(__name__)


def _said_if_failed(task: asyncio.Task[Any]) -> None:  # a verdict after the answer: the record has none
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("semantic cache: a verdict after the answer failed", exc_info=error)


class SemanticCache:
    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        verifier: Callable[[], Verifier],
        cache: Cache,
        clock: Callable[[], float] = time.time,
        feed: VectorFeed | None = None,
        max_entry_bytes: int = MAX_BODY_BYTES,
        counter: TokenCounter | None = None,
    ) -> None:
        self._counter = counter  # fills in the usage a stored answer lacks (`hit_usage`)
        self._feed = feed  # replicas: tells the others about each stored question
        self._max_entry_bytes = max_entry_bytes  # `limits.cache_entry_bytes`, as for the exact cache
        self.models = Models(embedder, verifier)  # loaded in the background: they take ~1.5 s
        if feed is not None:  # another replica stored a question: this one will be asked too
            feed.on_added = self.models.warm_up
        self._embedder = embedder
        self._index = index
        self._cache = cache
        self._clock = clock
        self._pending: set[asyncio.Task[Any]] = set()
        self.adaptive = AdaptiveThresholds(clock)  # each gateway's threshold under semantic_max_error
        self.shadow: Shadow | None = None  # set once the pipeline's Log stage exists (`shadow_through`)

    def shadow_through(self, log: Stage) -> None:
        """Send shadow requests (`pipeline.shadow`) through `log`, the pipeline's outermost stage."""
        self.shadow = Shadow(log, self._answers_cosine, self.adaptive, self._clock)

    def thresholds(self, gateway: Gateway) -> GatewayThreshold:
        """The gateway's configured threshold and the one in force on this replica."""
        settings = gateway.settings
        effective = self.adaptive.threshold(
            f"{gateway.account}/{gateway.slug}", settings.semantic_threshold, settings.semantic_max_error
        )
        return GatewayThreshold(
            configured=settings.semantic_threshold, effective=effective, max_error=settings.semantic_max_error
        )

    async def _answers_cosine(self, cached: str, fresh: str) -> float:
        vectors = await self._embedder.embed([cached, fresh])
        return float(np.dot(vectors[0], vectors[1]))

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs first"
        try:
            lookup = read_lookup(exchange.request, gateway, exchange.plan, self.adaptive)
            found = await self.find(exchange.request, exchange.plan, lookup) if lookup else _NOT_LOOKED_UP
        except GatewayError:  # the request's own fault (too deep to read): refused, as without the cache
            raise
        except Exception:
            _log.exception("semantic cache: request %s is answered without it", exchange.request.id)
            lookup = None
        if lookup is None:
            return await call_next(exchange)
        cache, hit, judged = exchange.cache, found.entry, found.judged
        cache.semantic, cache.record_after = judged, found.record_after
        if lookup.lookup or cache.source is CacheSource.NONE:  # a bypass is no lookup of this cache's
            cache.source = CacheSource.SEMANTIC
        if found.reply is not None and hit is not None and judged is not None:
            cache.status, cache.semantic_hit, cache.saved_ms = CacheStatus.HIT, True, hit.latency_ms
            cache.usage_counted = found.usage_counted
            if found.reply.reported_usage is not None:  # the stored usage its form may lack (cache.py)
                exchange.response.reported_usage.append(found.reply.reported_usage)
            if self.shadow is not None:
                self.shadow.consider(exchange, hit, judged.similarity, call_next, lookup.gateway)
            return found.reply
        cache.status = CacheStatus.MISS if lookup.lookup else CacheStatus.BYPASS
        if lookup.store:
            mark_storable(exchange.plan.steps, self._max_entry_bytes)
        reply = await call_next(exchange)
        reply.headers[STATUS_HEADER] = "MISS"
        reply.headers[EXACT_STATUS_HEADER] = cache.status  # as the log record says, exact cache on or off
        if 200 <= reply.status < 300 and exchange.cache.status.value != "HIT" and lookup.store:
            if reply.stream is None:
                if len(reply.body) <= self._max_entry_bytes:
                    self._store(exchange, lookup, found.vectors, reply, reply.body)
            else:
                reply.stream = self._teed(exchange, lookup, found.vectors, reply, reply.stream)
        return reply

    async def find(self, request: IncomingRequest, plan: RequestPlan, lookup: Lookup) -> Found:
        """What the semantic cache holds for `lookup`: a hit's answer in the form `request` asks
        for, or a miss (with the question's vectors, when embedded, to store its answer under)."""
        if not self.models.ready:
            self.models.warm_up()  # this request goes upstream; its answer is stored once they are in
            return _NOT_LOOKED_UP
        # A scope with no entries yet (a new system prompt, model, conversation shape) has
        # nothing to find: its question is embedded when stored, after the answer.
        if not lookup.lookup or not self._index.holds(lookup.scoped.scope):
            return _NOT_LOOKED_UP
        vectors = await self._embed(lookup.scoped.turns)
        verifier = await self.models.verifier()
        nearest = await asyncio.to_thread(self._nearest, lookup, vectors, self._clock(), verifier)
        if nearest is None:
            return Found(vectors)
        entry_id, similarity, worth = nearest
        judged = SemanticJudgement(similarity)
        entry = await self._judge(lookup, vectors, entry_id, lookup.threshold, judged) if worth else None
        record_after = None
        if judged.verified is None and judged.similarity >= WHAT_IF_FLOOR:
            record_after = self._judge_later(lookup, vectors, entry_id, judged)
        if entry is None or not judged.verified:
            return Found(vectors, judged, record_after=record_after)
        counted = await asyncio.to_thread(self._with_usage, request, plan, entry)
        reply = self._answer(request, plan, counted or entry, judged.similarity)
        return Found(vectors, judged, entry, reply, record_after, usage_counted=counted is not None)

    def _with_usage(
        self, request: IncomingRequest, plan: RequestPlan, entry: CacheEntry
    ) -> CacheEntry | None:
        """On a worker thread (tokenizing): the entry with the gateway's count of its usage, when it
        is a chat completion stored without any and the client reads usage; else None."""
        facts = asked(request, plan)
        if self._counter is None or not asks_usage(facts):
            return None
        return counted_entry(self._counter, facts, entry)

    async def _judge(
        self,
        lookup: Lookup,
        vectors: np.ndarray[Any, Any],
        entry_id: str,
        floor: float,
        judged: SemanticJudgement,
    ) -> CacheEntry | None:
        """Align the candidate's spelling and, if it is then at least `floor` similar, verify it,
        noting the similarity and verdict on `judged`. The entry, or None when it is gone."""
        scoped = lookup.scoped
        try:
            entry = await self._cache.get(f"{scoped.scope}/{entry_id}", self._clock())
        except CacheUnavailable:
            return None
        if entry is None:  # expired or purged: the vector goes too
            await asyncio.to_thread(self._index.remove, scoped.scope, entry_id)
            return None
        stored = stored_turns(entry)
        if len(stored) != len(scoped.turns):
            return None
        verifier = await self.models.verifier()
        turns = await asyncio.to_thread(align_turns, verifier, scoped.turns, stored)
        if turns != scoped.turns:
            changed = [place for place, turn in enumerate(turns) if turn != scoped.turns[place]]
            vectors = vectors.copy()
            vectors[changed] = await self._embedder.embed(
                [embedded(place, turns[place]) for place in changed]
            )
            kept = await asyncio.to_thread(self._index.vectors, scoped.scope, entry_id)
            if kept is None:
                return None
            judged.similarity = lowest_cosine(vectors, kept)
        if judged.similarity < floor - ROUNDING:
            return entry
        verdict = await asyncio.to_thread(verify_turns, verifier, turns, stored)
        judged.verified, judged.score = verdict.ok, verdict.score or None
        return entry

    def _judge_later(
        self, lookup: Lookup, vectors: np.ndarray[Any, Any], entry_id: str, judged: SemanticJudgement
    ) -> asyncio.Future[Any]:
        """Verify a candidate below the threshold after the answer, for the threshold what-if:
        the request goes upstream meanwhile, and its log record waits for the verdict on `judged`."""
        task = asyncio.create_task(self._judge(lookup, vectors, entry_id, WHAT_IF_FLOOR, judged))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(_said_if_failed)
        return task

    async def _embed(self, turns: tuple[str, ...]) -> np.ndarray[Any, Any]:
        return await self._embedder.embed([embedded(place, turn) for place, turn in enumerate(turns)])

    def _nearest(
        self, lookup: Lookup, vectors: np.ndarray[Any, Any], now: float, verifier: Verifier
    ) -> tuple[str, float, bool] | None:
        """On a worker thread: the nearest entry, its similarity, and whether it is worth judging
        now: at least as similar as the threshold, or at least `ALIGN_FLOOR` with a word to align.
        Else the miss costs the search (and, from `WHAT_IF_FLOOR`, a verdict after the answer)."""
        found = self._index.search(lookup.scoped.scope, vectors, 1, now)
        if not found:
            return None
        entry_id, similarity = found[0]
        worth = similarity >= lookup.threshold - ROUNDING or (
            similarity >= ALIGN_FLOOR and misspelt(verifier, lookup.scoped.turns)
        )
        return entry_id, similarity, worth

    def _answer(
        self, request: IncomingRequest, plan: RequestPlan, entry: CacheEntry, similarity: float
    ) -> Reply | None:
        """The stored answer, labelled a hit; None (a miss) when it cannot take the form asked for."""
        headers: CIMultiDict[str] = CIMultiDict(replayed_headers(entry.headers))
        headers[STATUS_HEADER] = "HIT"
        headers[SIMILARITY_HEADER] = f"{similarity:.4f}"
        headers[EXACT_STATUS_HEADER] = CacheStatus.HIT  # served from cache, exact cache on or off
        return served(request, plan, entry, headers)

    def _store(
        self,
        exchange: Exchange,
        lookup: Lookup,
        vectors: np.ndarray[Any, Any] | None,
        reply: Reply,
        body: bytes,
    ) -> None:
        """Store after the answer: the entry (with the compared turns, for verification) and their
        vectors (embedded here when the lookup did not: its scope was empty, or the models were
        still loading, in which case once they are in)."""
        now = self._clock()
        entry_id = secrets.token_hex(8)
        headers = tuple((k, v) for k, v in reply.headers.items() if replayable(k))
        turns = turn_headers(lookup.scoped)
        kept = len(body) + sum(len(text.encode()) for _, text in turns)
        if kept > self._max_entry_bytes:  # the question and its turns are kept with the answer
            return
        entry = CacheEntry(
            status=reply.status,
            headers=(*headers, *turns),
            body=body,
            streamed=reply.stream is not None,
            latency_ms=(time.perf_counter() - exchange.request.started) * 1000,
            stored_at=now,
            expires_at=now + lookup.ttl,
        )

        async def store() -> None:
            found = vectors
            if found is None:
                if not await self.models.loaded():
                    return  # they did not load (logged)
                found = await self._embed(lookup.scoped.turns)
            try:
                await self._cache.put(f"{lookup.scoped.scope}/{entry_id}", entry)
            except CacheUnavailable:
                return  # no answer stored, so no vector either
            await asyncio.to_thread(self._index.add, lookup.scoped.scope, entry_id, found, entry.expires_at)
            if self._feed is not None:
                with contextlib.suppress(CacheUnavailable):  # the other replicas miss this one
                    await self._feed.added(lookup.scoped.scope, entry_id, found, entry.expires_at)

        task = asyncio.create_task(store())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _teed(
        self,
        exchange: Exchange,
        lookup: Lookup,
        vectors: np.ndarray[Any, Any] | None,
        reply: Reply,
        stream: AsyncGenerator[bytes, None],
    ) -> AsyncGenerator[bytes, None]:
        """Relay the stream; store it once it holds a whole answer, as the exact cache does
        (`whole_answer`; `StreamCopy`: not past `cache_entry_bytes`)."""
        copy = StreamCopy(self._max_entry_bytes)
        try:
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    copy.add(chunk)
                    yield chunk
        except (GeneratorExit, asyncio.CancelledError):
            if (body := copy.body()) is not None and whole_answer(exchange, body, read_to_end=False):
                self._store(exchange, lookup, vectors, reply, kept_stream(reply, body))
            raise
        if (body := copy.body()) is not None and whole_answer(exchange, body, read_to_end=True):
            self._store(exchange, lookup, vectors, reply, kept_stream(reply, body))

    async def purge(self, prefix: str) -> int:
        """Forget the vectors under `prefix` (`account/` or `account/gateway/`); entries go with
        the exact cache's purge of the same prefix."""
        if self._feed is not None:
            await self._feed.purged(prefix)
        return await asyncio.to_thread(self._index.purge, prefix)

    async def open(self) -> None:
        if self._feed is not None:
            await self._feed.open()

    def size(self) -> int:
        return len(self._index)

    async def flush(self) -> None:
        """Wait until the answers handed over so far are stored (or have failed to be)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def close_shadow(self) -> None:
        """Wait for the shadow requests under way: before the log writer and upstream client close."""
        if self.shadow is not None:
            await self.shadow.close()

    async def close(self) -> None:
        await self.close_shadow()
        await self.flush()
        if self._feed is not None:
            await self._feed.close()
        await self.models.close()
        await asyncio.to_thread(self._index.close)
