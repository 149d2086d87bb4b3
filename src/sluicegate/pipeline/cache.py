"""The exact cache: identical requests answered from the gateway, streams replayed as streams.

A hit answers at once and never reaches the stages after this one (rate limits, upstream). With
`ahead` (cache and counters in Redis), the lookup also decides the request rules: admit_ahead.py.
Concurrent identical misses (the same key: so never of two segments) are coalesced: one goes
upstream, the others wait for its entry. What an entry is keyed by, and so which requests may share
it: cache_keys.py. What the answer says of the caches (HIT, MISS, BYPASS): cache_labels.py.
A hit is served in the form its request asks for (`served`): a `cf-aig-cache-key` names one entry
whatever the body, so a streaming request may find an answer stored whole, or the reverse.
When the cache cannot be reached (Redis down), the request is served as a miss and its answer is
not stored: the cache is bypassed, never an error (`CacheUnavailable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from functools import partial

from multidict import CIMultiDict

from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.gateway import Gateway
from sluicegate.pipeline import Handler
from sluicegate.pipeline.admit_ahead import AdmitAhead
from sluicegate.pipeline.cache_asks import (
    CACHE_HEADERS,
    NOT_CACHED,
    Caching,
    cache_key_named,
    caching,
    read_cache_ask,
    step_caching,
)
from sluicegate.pipeline.cache_control import parse_cache_control
from sluicegate.pipeline.cache_keys import custom_key, exact_key
from sluicegate.pipeline.cache_labels import STATUS_HEADER, labelled
from sluicegate.pipeline.cache_streams import (
    StreamCopy,
    closing_usage,
    kept_stream,
    stored_usage,
    whole_answer,
)
from sluicegate.pipeline.hit_usage import asks_usage, counted_entry, may_lack_usage
from sluicegate.pipeline.resolve import METADATA_DROPPED_HEADER, WARNING_HEADER
from sluicegate.pipeline.retry import STEP_HEADER
from sluicegate.providers.base import Answer, Provider, RequestFacts, Route
from sluicegate.providers.sse import iter_events
from sluicegate.storage.cache import Cache, CacheEntry, CacheUnavailable
from sluicegate.types import CacheSource, CacheStatus
from sluicegate.usage.tokens import TokenCounter

# Headers of the original answer that are not replayed: they describe that one response, or that
# one request's headers (a TTL taken into range, metadata entries dropped). Its `cf-aig-step` is
# kept: which step's answer it is (`served`).
_NOT_REPLAYED = frozenset(
    {"date", "server", "set-cookie", "cf-aig-log-id", STATUS_HEADER, WARNING_HEADER, METADATA_DROPPED_HEADER}
)
# The semantic cache's answer headers (`x-semantic-cache`, `x-semantic-similarity`) say how that
# one answer was found: an exact hit replaying a stored `x-semantic-cache: MISS` contradicted its
# own `cf-aig-cache-status: HIT` and the log. Neither stored nor replayed (older entries hold them):
# a hit says its own to a client that speaks Fastly (`cache_labels.said_to_fastly`).
_SEMANTIC_PREFIX = "x-semantic-"


def replayable(name: str) -> bool:
    """Whether a stored answer's header is replayed on a hit (not one set for that one response)."""
    lower = name.lower()
    return lower not in _NOT_REPLAYED and not lower.startswith(_SEMANTIC_PREFIX)


@dataclass(frozen=True, slots=True)
class Decision:
    key: str
    ttl: int
    lookup: bool  # may a stored answer be served?
    store: bool  # may this answer be stored?
    # Universal steps with cache headers of their own: each step's TTL for its answer, None where
    # its answer is not stored. Empty: `ttl` and `store` hold whichever step answers.
    step_ttls: tuple[int | None, ...] = ()
    warnings: tuple[str, ...] = ()  # what the gateway changed of the asks (a TTL taken into range)
    # What an answer not served from cache says (`cache_labels.py`): BYPASS where the first step's
    # lookup was declined, MISS, or None where no cache reads nor stores (a universal request whose
    # first step has none, its later steps' storing declined).
    status: CacheStatus | None = CacheStatus.MISS

    def answered_by(self, step_index: int) -> Decision:
        """The decision for storing the answer of step `step_index`."""
        if not self.step_ttls:
            return self
        ttl = self.step_ttls[step_index]
        return replace(self, ttl=ttl or 0, store=ttl is not None)


class ResponseCache:
    def __init__(
        self,
        cache: Cache,
        max_entry_bytes: int,
        wait_timeout: float,
        clock: Callable[[], float] = time.time,
        ahead: AdmitAhead | None = None,
        counter: TokenCounter | None = None,
    ) -> None:
        self._cache = cache
        self._max_entry_bytes = max_entry_bytes
        self._wait_timeout = wait_timeout
        self._clock = clock
        self._inflight: dict[str, asyncio.Event] = {}
        self._ahead = ahead  # looks up and decides the request rules in one round trip
        self._counter = counter  # fills in the usage a stored chat completion lacks (`hit_usage`)

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        if self._ahead is None:
            return await self._serve(exchange, call_next)
        try:
            return await self._serve(exchange, call_next)
        finally:
            await self._ahead.release_unused(exchange)

    async def _serve(self, exchange: Exchange, call_next: Handler) -> Reply:
        gateway = exchange.gateway
        assert gateway is not None, "Resolve runs first"
        decision = cache_decision(exchange.request, gateway, exchange.plan)
        if decision is None:
            return await call_next(exchange)
        exchange.options.warnings += decision.warnings  # answered by the Log stage, hit or miss
        if decision.status is None:  # no cache reads nor stores: nothing to say of one
            return await call_next(exchange)
        exchange.cache.source, exchange.cache.status = CacheSource.EXACT, decision.status
        request = exchange.request
        if not decision.lookup and not decision.store:
            reply = await call_next(exchange)
            return labelled(reply, exchange.cache.status)  # the semantic cache's say, if it ran
        if decision.lookup:
            entry = await self._lookup(exchange, gateway, decision.key)
            counted = None if entry is None else await self._counted(exchange, entry)
            if entry is not None and (hit := hit_reply(request, exchange.plan, counted or entry)):
                exchange.cache.status, exchange.cache.saved_ms = CacheStatus.HIT, entry.latency_ms
                exchange.cache.usage_counted = counted is not None
                if hit.reported_usage is not None:  # the usage the form it is served in may lack
                    exchange.response.reported_usage.append(hit.reported_usage)
                return labelled(hit, CacheStatus.HIT)
        mark_storable(exchange.plan.steps, self._max_entry_bytes, decision)
        done = (
            self._inflight.setdefault(decision.key, asyncio.Event()) if decision.lookup else asyncio.Event()
        )
        try:
            reply = await call_next(exchange)
        except BaseException:
            self._release(decision.key, done)
            raise
        # The semantic cache, when it ran inside this stage, had the last say (a hit of its own, or
        # a bypass): the answer says what the log record says.
        labelled(reply, exchange.cache.status)
        decision = decision.answered_by(exchange.plan.step_index)
        if not (decision.store and 200 <= reply.status < 300):
            self._release(decision.key, done)
        elif reply.stream is None:
            if len(reply.body) <= self._max_entry_bytes:  # (a large answer may come whole: body.py)
                await self._store(decision, exchange, reply, reply.body)
            self._release(decision.key, done)
        else:
            reply.stream = self._teed(decision, exchange, reply, reply.stream, done)
        return reply

    async def _lookup(self, exchange: Exchange, gateway: Gateway, key: str) -> CacheEntry | None:
        try:
            if self._ahead is not None and key not in self._inflight:
                return await self._lead(self._ahead, exchange, gateway, key)
            entry = await self._cache.get(key, self._clock())
            if entry is not None:
                return entry
            waiting = self._inflight.get(key)
            if waiting is None:
                return None
            # An identical request is on its way upstream: wait for its answer rather than send another.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting.wait(), self._wait_timeout)
            return await self._cache.get(key, self._clock())
        except CacheUnavailable:
            return None  # bypassed: logged once by the backend, counted in /metrics

    async def _lead(
        self, ahead: AdmitAhead, exchange: Exchange, gateway: Gateway, key: str
    ) -> CacheEntry | None:
        """Look up and judge the request rules in one round trip. Identical requests arriving
        meanwhile wait for this one's lookup (and on a miss, its answer) rather than being judged
        too: a request answered by another's entry is never counted."""
        leading = self._inflight[key] = asyncio.Event()
        try:
            claims = ahead.claims(
                exchange.request, gateway, exchange.token, exchange.plan, exchange.options.metadata
            )
            entry, exchange.limits.admitted_ahead = await ahead.lookup(key, claims)
        except BaseException:
            self._release(key, leading)
            raise
        if entry is not None:
            self._release(key, leading)  # the waiters find the entry too
        return entry

    async def _counted(self, exchange: Exchange, entry: CacheEntry) -> CacheEntry | None:
        """The entry with the gateway's count of its usage, when it is a chat completion stored
        without any (as the semantic cache serves one) and the client reads usage (`asks_usage`)."""
        if self._counter is None or not may_lack_usage(entry):
            return None
        facts = asked(exchange.request, exchange.plan)
        if not asks_usage(facts):
            return None
        return await asyncio.to_thread(counted_entry, self._counter, facts, entry)

    async def _store(self, decision: Decision, exchange: Exchange, reply: Reply, body: bytes) -> None:
        now = self._clock()
        headers = tuple((k, v) for k, v in reply.headers.items() if replayable(k))
        entry = CacheEntry(
            status=reply.status,
            headers=headers,
            body=body,
            streamed=reply.stream is not None,
            latency_ms=(time.perf_counter() - exchange.request.started) * 1000,
            stored_at=now,
            expires_at=now + decision.ttl,
        )
        with contextlib.suppress(CacheUnavailable):  # not stored: the next request asks upstream
            await self._cache.put(decision.key, entry)

    async def _teed(
        self,
        decision: Decision,
        exchange: Exchange,
        reply: Reply,
        stream: AsyncGenerator[bytes, None],
        done: asyncio.Event,
    ) -> AsyncGenerator[bytes, None]:
        """Relay the stream; store it once it has ended cleanly (never a partial or failed stream)."""
        copy = StreamCopy(self._max_entry_bytes)
        try:
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    copy.add(chunk)
                    yield chunk
            if (body := copy.body()) is not None and whole_answer(exchange, body, read_to_end=True):
                await self._store(decision, exchange, reply, kept_stream(reply, body))
        except (GeneratorExit, asyncio.CancelledError):
            # The client may hang up the moment it has the closing event, before the upstream's
            # end of body is read: the answer is whole if that event came.
            if (body := copy.body()) is not None and whole_answer(exchange, body, read_to_end=False):
                await self._store(decision, exchange, reply, kept_stream(reply, body))
            raise
        finally:
            self._release(decision.key, done)

    def _release(self, key: str, done: asyncio.Event) -> None:
        done.set()
        if self._inflight.get(key) is done:
            del self._inflight[key]


def mark_storable(steps: list[Step], limit: int, decision: Decision | None = None) -> None:
    """Mark the steps whose answer a cache would store (all of them, or those `decision` stores),
    up to `limit` bytes: the forward stage reads such an answer whole that far (forward.py)."""
    for index, step in enumerate(steps):
        if decision is None or decision.answered_by(index).store:
            step.storable_bytes = max(step.storable_bytes, limit)


def cache_decision(request: IncomingRequest, gateway: Gateway, plan: RequestPlan) -> Decision | None:
    """How the exact cache treats a request to `gateway` planned as `plan`, or None when caching
    does not apply to it; `BadRequest` for a `cf-aig-cache-ttl` it cannot take. A universal step's
    own cache headers (`cache_asks.py`) decide for that step's answer; the lookup is the first
    step's, as the cache answers in its place."""
    headers = request.headers
    if request.method != "POST" or not plan.steps:
        return None
    if not all(step.facts.cacheable for step in plan.steps):
        return None
    settings = gateway.settings
    if not (settings.cache_enabled or any(name in headers for name in CACHE_HEADERS)) and not any(
        step.own_headers for step in plan.steps
    ):
        return None
    asked = read_cache_ask(headers)
    custom = cache_key_named(headers)
    if custom is None:  # a universal step's own names the request's one entry (step_headers.py)
        custom = next((n for s in plan.steps if (n := cache_key_named(s.own_headers)) is not None), None)
    control = parse_cache_control(headers.getall("cache-control", []))
    steps: list[Caching | None] = [caching(asked, control, settings, custom is not None)]
    warnings = [asked.clamped] if asked.clamped else []
    if any(step.own_headers for step in plan.steps):
        owns = [read_cache_ask(step.own_headers) for step in plan.steps]
        steps = [step_caching(own, asked, control, settings, custom is not None) for own in owns]
        warnings += [f"step {index}: {own.clamped}" for index, own in enumerate(owns) if own.clamped]
    if all(step is None for step in steps):
        return None
    first = steps[0] or NOT_CACHED
    per_key = settings.cache_per_key
    key = exact_key(request, plan, per_key) if custom is None else custom_key(request, plan, custom, per_key)
    # BYPASS only where the first step's cache (whose lookup answers in its place) was declined:
    # with none of its own, nothing was asked to be skipped; a later step's storing is a MISS.
    status: CacheStatus | None = (
        CacheStatus.BYPASS if steps[0] is not None and not first.lookup else CacheStatus.MISS
    )
    if len(steps) == 1:
        return Decision(key, first.ttl, first.lookup, first.store, warnings=tuple(warnings), status=status)
    ttls = tuple(step.ttl if step is not None and step.store else None for step in steps)
    stores = any(t is not None for t in ttls)
    if steps[0] is None and not stores:
        status = None
    return Decision(key, first.ttl, first.lookup, stores, ttls, tuple(warnings), status)


def hit_reply(request: IncomingRequest, plan: RequestPlan, entry: CacheEntry) -> Reply | None:
    """The answer to a request from its stored `entry`, labelled a hit; None (a miss) when the
    entry cannot take the form the request asks for."""
    headers: CIMultiDict[str] = CIMultiDict((k, v) for k, v in entry.headers if replayable(k))
    headers[STATUS_HEADER] = CacheStatus.HIT
    return served(request, plan, entry, headers)


def served(
    request: IncomingRequest, plan: RequestPlan, entry: CacheEntry, headers: CIMultiDict[str]
) -> Reply | None:
    """A stored answer (with `headers`) in the form the request asks for, whole or streamed: the
    provider converts it when it was stored in the other form. None when it cannot be converted:
    the request must then be treated as a miss, never answered in a form its client cannot read."""
    provider, route, facts = _asker(request, plan)
    answer = provider.answer_as(route, facts, Answer(entry.body, entry.streamed))
    if answer is None:
        return None
    headers[STEP_HEADER] = _answering_step(headers.get(STEP_HEADER), plan)
    if answer.content_type is not None:
        headers["Content-Type"] = answer.content_type
    if answer.streamed:
        ahead = partial(closing_usage, provider, route, answer.body)  # read only if rendered
        # Served otherwise than stored (converted, or less the usage chunk its client did not ask
        # for): the meter reads the stored answer's usage where the served stream has none.
        stored = None if answer.body is entry.body else partial(stored_usage, provider, route, entry)
        stream = replay(answer.body)
        return Reply(entry.status, headers, stream=stream, usage_ahead=ahead, reported_usage=stored)
    return Reply(entry.status, headers, body=answer.body)


def answer_text(request: IncomingRequest, plan: RequestPlan, body: bytes, streamed: bool) -> str:
    """The generated text of an answer to a request, whole or streamed, as its client reads it."""
    provider, route, _ = _asker(request, plan)
    return provider.output_text(route, body, streamed)


def asked(request: IncomingRequest, plan: RequestPlan) -> RequestFacts:
    """What the request asked for, in the shape its client speaks (a hit's form and usage)."""
    return _asker(request, plan)[2]


def _answering_step(stored: str | None, plan: RequestPlan) -> str:
    """A hit's `cf-aig-step`, as every answer of the upstream carries one (Cloudflare sends it on
    each answer of the universal endpoint): the step whose answer was stored, when it names one of
    this plan's; else (an entry stored without it, or another plan's under a `cf-aig-cache-key`)
    the step the cache answers in place of."""
    if stored is not None and stored.isdigit() and int(stored) < len(plan.steps):
        return stored
    return str(plan.step_index)


def _asker(request: IncomingRequest, plan: RequestPlan) -> tuple[Provider, Route, RequestFacts]:
    """Whose shape the client reads, at which route, and what its request asked for."""
    step = plan.steps[0]
    if step.reader is None:
        return step.provider, step.route, step.facts
    # The compat endpoint: the client speaks the reader's API (OpenAI's) at its own route, or
    # speaks another API whose request was translated to that chat request (`hub`), or whose answer
    # a route's target renders (`Step.hub`): that API's, at its provider's route.
    route, body = (plan.hub.route, plan.hub.body) if plan.hub else (request.route, plan.body)
    if step.hub is not None and request.ingress is not None:
        route = Route(request.account, request.ingress.native.path, request.route.query)
    return step.reader, route, step.reader.read_request(route, body)


async def replay(body: bytes) -> AsyncGenerator[bytes, None]:
    """A stored stream, event by event, so a streaming client sees what it saw the first time."""
    for event in iter_events(body):
        yield event.raw
