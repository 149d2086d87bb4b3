"""What the stages learn of one request and the log keeps: the caches' outcome, the limits'
decision, the guardrails' findings, the upstream tries and the response as it went back. Each is a
field of `Exchange` (exchange.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sluicegate.storage import limiter
from sluicegate.storage.cache_admission import Admission
from sluicegate.storage.limiter import Hold
from sluicegate.types import CacheSource, CacheStatus, Usage


@dataclass(slots=True)
class SemanticJudgement:
    """What the semantic lookup made of its best candidate, for the log (hit or miss): its
    `similarity` (after spelling alignment), and the verifier's verdict (`verified`, None when it
    did not judge) and NLI score (None when the NLI model did not run; on a shadow request, the
    cosine of the cached and the fresh answer)."""

    similarity: float
    verified: bool | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one step, for the log: `status` 0 when no response came (see `error`)."""

    step: int
    provider: str
    status: int
    latency_ms: float
    error: str | None = None
    key: str | None = None  # the name of the stored provider key it went with


@dataclass(slots=True)
class CacheOutcome:
    """What the exact and semantic caches made of the request (and, on a shadow request, of the
    semantic hit it checks)."""

    status: CacheStatus = CacheStatus.NONE
    source: CacheSource = CacheSource.NONE  # which cache `status` is about
    saved_ms: float | None = None  # on a hit: the original latency, the time saved
    semantic_hit: bool = False
    usage_counted: bool = False  # a hit whose usage the gateway counted: the stored answer had none
    semantic: SemanticJudgement | None = None  # the semantic lookup's best candidate, when it had one
    shadow_of: str | None = None  # a shadow request: the id of the semantic hit it checks
    shadow_agreed: bool | None = None  # a shadow request: whether the fresh answer agreed with the cached one
    # Work that goes on after the answer and whose result the log record carries (the semantic
    # cache judging a candidate below the threshold): the record is built once it is done.
    record_after: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class LimitOutcome:
    """What the rate-limit stage decided: refused (`rate_limited`), or admitted with `holds`,
    the token and cost reservations settled when the response completes."""

    rate_limited: bool = False
    holds: tuple[Hold, ...] = ()
    admitted_ahead: Admission | None = None  # made with the cache lookup, for the rate-limit stage


@dataclass(slots=True)
class RouteHolds:
    """The reservations a dynamic route's limit nodes made as the route was planned, by each node's
    place in the route, and each bucket's figures once reserved (the `x-ratelimit-*` headers):
    settled or given back when the response completes (pipeline/route_limits.py), or taken over by
    the rate-limit stage where a node counts in a gateway rule's bucket."""

    holds: dict[str, Hold] = field(default_factory=dict)
    figures: dict[str, limiter.Usage] = field(default_factory=dict)


@dataclass(slots=True)
class GuardrailReport:
    """What the guardrails found (`request:redact:email`, each once) and the values they put back
    in the answer for the client only (never logged)."""

    findings: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ResponseRecord:
    """What went back to the client, as the Log stage saw it complete, and the upstream tries
    behind it (`Attempts`)."""

    status: int = 0
    error: str | None = None
    streamed: bool = False
    body: bytes = b""  # a streamed answer's last `tee_limit` bytes (and a `relayed_whole` one's)
    relayed_whole: bool = False  # a whole answer relayed past the size read whole (`Reply`)
    attempts: list[Attempt] = field(default_factory=list)
    # The status of the upstream's answer the request ended with; None when the gateway answered
    # itself (a cache hit, a refusal, a try that got no answer: the origin latency leaves it out).
    upstream_status: int | None = None
    # The `Reply.reported_usage` of each stage that rewrote the stream, the upstream's nearest first.
    reported_usage: list[Callable[[], Usage | None]] = field(default_factory=list)
    # Their `Reply.unfinished`, in the same order: the log's error for a stream that ended early.
    unfinished: list[Callable[[], str | None]] = field(default_factory=list)
    # What the answer cost on models other than the step's, priced and charged apart as it ran (a
    # realtime session's input audio transcriptions: realtime/transcriptions.py), in USD; the meter
    # adds it to the record's cost. None: nothing else ran, or nothing priced it.
    cost_apart_usd: float | None = None


@dataclass(slots=True)
class Timings:
    """When the answer started and ended (`time.perf_counter()`; see `IncomingRequest.started`)."""

    first_byte_at: float | None = None
    finished_at: float | None = None
