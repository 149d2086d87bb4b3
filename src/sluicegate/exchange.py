"""One request's journey through the pipeline: what came in, what the stages learned, what went out."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.gateway import Gateway
from sluicegate.providers.base import NO_FACTS, Provider, RequestFacts, Route
from sluicegate.storage.cache_admission import Admission
from sluicegate.storage.limiter import Hold
from sluicegate.tokens import Token
from sluicegate.types import Backoff, CacheSource, CacheStatus
from sluicegate.usage.custom_cost import CustomCost

if TYPE_CHECKING:
    from sluicegate.ingress.base import IngressFormat
    from sluicegate.routing.keypool import KeyRing
    from sluicegate.routing.plan import RoutePlan


@dataclass(slots=True)
class Reply:
    """What the pipeline answers: a complete `body`, or a `stream` of chunks relayed as they come."""

    status: int
    headers: CIMultiDict[str]
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one step is retried: `max_attempts` tries in all, waiting `delay_ms` scaled by `backoff`.

    `timeout_ms` bounds each attempt until its response starts (None: only the request's deadline).
    """

    max_attempts: int = 1
    delay_ms: int = 0
    backoff: Backoff = Backoff.CONSTANT
    timeout_ms: int | None = None


@dataclass(slots=True)
class Step:
    """One upstream request the gateway may send: the only one on a provider endpoint, one of an
    ordered list on the universal endpoint. `headers` are what goes upstream, already filtered."""

    provider: Provider
    route: Route
    headers: CIMultiDict[str]
    body: bytes
    facts: RequestFacts
    retry: RetryPolicy = RetryPolicy()
    answer: Callable[[Reply], Reply] | None = None  # rewrites the upstream's answer (compat translation)
    base_url: str | None = None  # instead of the provider's configured one (host-in-path)
    reader: Provider | None = None  # reads usage from the answer the client got, when not `provider`
    keys: KeyRing | None = None  # the stored keys to choose from, per try, when the request brought none
    key_name: str | None = None  # the stored key the last try went with
    stored_values: tuple[str, ...] = ()  # header values the gateway added from storage: never logged


@dataclass(frozen=True, slots=True)
class HubRequest:
    """A compat request in another client API (`Exchange.ingress`) as the OpenAI chat request it
    means: `asked` is the client's request, parsed; `route` and `body` the chat request, as a chat
    client would have sent it to the compat endpoint."""

    asked: dict[str, Any]
    route: Route
    body: bytes


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
class Exchange:
    """The request context handed from stage to stage.

    The endpoint fills the first group from HTTP; the stages fill the rest. Times are from
    `time.perf_counter()` except `received_at`, which is wall-clock epoch seconds.
    """

    gateway_slug: str
    provider_name: str  # the URL segment: a provider slug, or "universal" / "compat"
    route: Route
    method: str
    headers: CIMultiDictProxy[str]
    read_body: Callable[[], Awaitable[bytes]]
    kind: str = "provider"  # which planner turns the request into steps
    ingress: IngressFormat | None = None  # compat: the client's API when it is not OpenAI chat
    upstream_host: str = ""  # host-in-path: the host named in the path ("" otherwise)
    id: str = field(default_factory=lambda: new_log_id())
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)

    body: bytes = b""
    gateway: Gateway | None = None
    steps: list[Step] = field(default_factory=list)
    step_index: int = 0  # the step that answered, or the last one tried
    attempts: list[Attempt] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    custom_cost: CustomCost | None = None

    status: int = 0
    error: str | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    streamed: bool = False
    response_body: bytes = b""
    cache_status: CacheStatus = CacheStatus.NONE
    cache_source: CacheSource = CacheSource.NONE  # which cache `cache_status` is about
    cache_saved_ms: float | None = None  # on a hit: the original latency, the time saved
    token: Token | None = None  # the gateway token that authenticated the request
    collect_log: bool = True  # cf-aig-collect-log: false
    collect_payload: bool = True  # cf-aig-collect-log-payload: false
    rate_limited: bool = False
    semantic_hit: bool = False
    semantic: SemanticJudgement | None = None  # the semantic lookup's best candidate, when it had one
    shadow_of: str | None = None  # a shadow request: the id of the semantic hit it checks
    shadow_agreed: bool | None = None  # a shadow request: whether the fresh answer agreed with the cached one
    # Work that goes on after the answer and whose result the log record carries (the semantic
    # cache judging a candidate below the threshold): the record is built once it is done.
    record_after: asyncio.Future[Any] | None = None
    holds: tuple[Hold, ...] = ()  # token and cost reservations, settled when the response completes
    admitted_ahead: Admission | None = None  # made with the cache lookup, for the rate-limit stage
    guardrails: list[str] = field(default_factory=list)  # findings: `request:redact:email`
    restored: list[str] = field(default_factory=list)  # values guardrails put back for the client only
    route_plan: RoutePlan | None = None  # `dynamic/<route>`: its targets are `steps`, in order
    hub: HubRequest | None = None  # an `ingress` request translated through chat (None: passed through)

    @property
    def account(self) -> str:
        return self.route.account

    @property
    def token_id(self) -> str | None:
        return self.token.id if self.token is not None else None

    @property
    def step(self) -> Step | None:
        return self.steps[self.step_index] if self.steps else None

    @property
    def provider(self) -> Provider | None:
        return self.steps[self.step_index].provider if self.steps else None

    @property
    def provider_slug(self) -> str:
        """The provider that answered (or was tried last), else the URL's provider segment."""
        return self.steps[self.step_index].provider.name if self.steps else self.provider_name

    @property
    def facts(self) -> RequestFacts:
        return self.steps[self.step_index].facts if self.steps else NO_FACTS


# A generator of its own: code that reseeds the global `random` (tests do) must not repeat ids.
_ID_BITS = random.Random()


def new_log_id() -> str:
    """A time-ordered id (48-bit milliseconds, then 80 random bits, as hex) so ids sort by time.

    The random part only has to make ids unique, not unguessable (reading a log needs a token), so
    it comes from `random`, not from a system call per request.
    """
    return f"{time.time_ns() // 1_000_000:012x}{_ID_BITS.getrandbits(80):020x}"
