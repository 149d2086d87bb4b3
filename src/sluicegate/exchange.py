"""One request's journey through the pipeline: what came in, what the stages learned, what went out."""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.credentials import Secrets, is_credential_header
from sluicegate.exchange_records import (
    Attempt,
    CacheOutcome,
    GuardrailReport,
    LimitOutcome,
    ResponseRecord,
    RouteHolds,
    Timings,
)
from sluicegate.gateway import Gateway
from sluicegate.providers.base import NO_FACTS, Provider, RequestFacts, Route
from sluicegate.tokens import Token
from sluicegate.types import Backoff, Usage
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
    # An answer rewritten on its way (a compat translation's stream, an ingress rendering): the usage
    # its source reported (a stream's so far), which the rewritten one may not carry whole (see
    # `ResponseRecord`).
    reported_usage: Callable[[], Usage | None] | None = None
    # The same rewritten stream: why its source ended before it finished, once it has ended (None:
    # it finished, or has not ended): a translation's upstream that never closed its answer.
    unfinished: Callable[[], str | None] | None = None
    # A stored stream replayed (a cache hit): the usage it holds, known before its first event, for
    # a rendering that says it up front (Anthropic's message_start tells the input tokens).
    usage_ahead: Callable[[], Usage | None] | None = None
    # A 200 stream whose first event is the provider's error (Anthropic's overloaded_error): the
    # status that error stands for (529), which retries, fallbacks, circuits and key pools act on
    # (`counted_status`). A client that gets this answer gets the stream as the provider sent it.
    failure: int | None = None
    # That error event, as read ahead: what the key pool reads of it (pipeline/key_verdicts.py).
    failure_event: bytes = b""
    # A JSON answer asked for whole but larger than the gateway reads whole (`Forwarder`): relayed as
    # it comes, yet one answer, not a stream, for the log and the meter (`ResponseRecord`).
    relayed_whole: bool = False

    @property
    def counted_status(self) -> int:
        """The status the retry stage acts on: `failure` when there is one, else `status`."""
        return self.failure or self.status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one step is retried: `max_attempts` tries in all, waiting `delay_ms` scaled by `backoff`.

    `timeout_ms` bounds each attempt until its response starts (None: only the request's deadline).
    """

    max_attempts: int = 1
    delay_ms: int = 0
    backoff: Backoff = Backoff.CONSTANT
    timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class StepOptions:
    """A universal step's own `cf-aig-metadata` (its first five entries), `cf-aig-custom-cost` and
    `cf-aig-collect-log` (None: not sent): over the request's `ClientOptions` for the exchange's log
    record, cost and whether it is kept, when this step is the record's (`Exchange.step`)."""

    metadata: dict[str, Any] | None = None
    custom_cost: CustomCost | None = None
    collect_log: bool | None = None


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
    # Where it goes: set by Plan for every step (the host's for host-in-path, else the configured
    # or default one), so the forward stage and the cache keys agree. None: a step Plan never saw.
    base_url: str | None = None
    reader: Provider | None = None  # reads usage from the answer the client got, when not `provider`
    # A translated step whose chat request says `parallel_tool_calls: false`: its answer keeps one
    # tool call per choice (pipeline/one_call.py). Read by Plan, which parses the body once.
    one_tool_call: bool = False
    # A route's target translated through chat beside targets that take the client's API as it came
    # (pipeline/compat_route.py): the chat request it went as. Its `answer` renders the chat answer
    # in the client's API (`reader`), so the stages above read it as they read a native answer.
    hub: HubRequest | None = None
    keys: KeyRing | None = None  # the stored keys to choose from, per try, when the request brought none
    key_name: str | None = None  # the stored key the last try went with
    key_alias: str | None = None  # the stored key the client chose (`cf-aig-byok-alias`): a credential
    # The headers the gateway set from storage (an account custom provider's): values never logged.
    stored_headers: tuple[tuple[str, str], ...] = ()
    # A universal step's own `cf-aig-*` headers: read over the request's (cache, retries), never sent.
    own_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    options: StepOptions | None = None  # a universal step's own log headers (`StepOptions`)
    # The most of this step's answer a cache of the gateway would store (limits.cache_entry_bytes),
    # set by the cache stages when one would; 0: none. A JSON answer asked for whole is read whole
    # up to the larger of this and 1 MiB (forward.py's `whole_limit`).
    storable_bytes: int = 0
    # Top-level fields of `body` the forward stage leaves out (pipeline/unsent_fields.py): those of
    # a compat chat client's request its provider refuses and that change no answer
    # (`OpenAICompatible.chat_refuses`). The caches, the log and the guardrails see the client's body.
    unsent: frozenset[str] = frozenset()

    def stored_secrets(self) -> tuple[str, ...]:
        """Every value the gateway may add to this step from storage, never to be shown or logged:
        each key of its pool (an upstream may echo a refused one) and a custom provider's headers."""
        pooled = tuple(self.keys.values.values()) if self.keys is not None else ()
        return (*pooled, *(value for _, value in self.stored_headers))

    def add_stored_to(self, secrets: Secrets, credentials_only: bool = False) -> None:
        """Adds `stored_secrets` to `secrets`: the pool's keys and a custom provider's credential
        headers (`is_credential_header`) as credentials, and, unless `credentials_only`, its other
        header values whole (`X-Title`, `HTTP-Referer`: configuration that leaves storage only by
        name, but no credential a model's text must be rewritten for)."""
        if self.keys is not None:
            for value in self.keys.values.values():
                secrets.add_stored(value)
        for name, value in self.stored_headers:
            if is_credential_header(name, value):
                secrets.add_stored(value, name)
            elif not credentials_only:
                secrets.add_value(value)

    def went_on_stored_credentials(self) -> bool:
        """Whether the answer came from a try with credentials from storage: a stored key
        (`key_name`, set per try; not a cached answer's) or a custom provider's credential header."""
        return self.key_name is not None or any(
            is_credential_header(*header) for header in self.stored_headers
        )


@dataclass(frozen=True, slots=True)
class HubRequest:
    """A compat request in another client API (`IncomingRequest.ingress`) as the OpenAI chat request it
    means: `asked` is the client's request, parsed; `route` and `body` the chat request, as a chat
    client would have sent it to the compat endpoint."""

    asked: dict[str, Any]
    route: Route
    body: bytes


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """What the endpoint read from HTTP, as it came: no stage changes it.

    Resolve replaces it once for a host-in-path request, whose URL names no gateway: with the
    gateway and account its token (or `host_gateway`) names. Times are from `time.perf_counter()`
    except `received_at`, which is wall-clock epoch seconds.
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

    @property
    def account(self) -> str:
        return self.route.account


@dataclass(slots=True)
class ClientOptions:
    """What the client asked of the gateway in its `cf-aig-*` headers (Resolve), with its token's
    metadata merged in (Authenticate). Guardrails add their findings to `metadata` and may stop
    the bodies being logged; a realtime session adds its event counts."""

    metadata: dict[str, Any] = field(default_factory=dict)
    metadata_dropped: tuple[str, ...] = ()  # cf-aig-metadata's keys past the fifth, not kept
    custom_cost: CustomCost | None = None
    collect_log: bool | None = None  # cf-aig-collect-log: true or false; None: as the gateway says
    collect_payload: bool = True  # cf-aig-collect-log-payload: false
    warnings: tuple[str, ...] = ()  # what was taken otherwise than asked (a cache TTL out of range)


@dataclass(slots=True)
class RequestPlan:
    """What the Plan stage made of the request: its body and the `steps` to try, in order.

    Guardrails may rewrite `body` (the client's body as the log keeps it) and the steps' bodies
    and facts; `InjectKeys` sets the steps' stored headers and key rings; `Attempts` (with
    `StepKeys`: each try's key) notes in `step_index` the step that answered, or the last one tried.
    """

    body: bytes = b""
    steps: list[Step] = field(default_factory=list)
    route_plan: RoutePlan | None = None  # `dynamic/<route>`: its targets are `steps`, in order
    hub: HubRequest | None = None  # an `ingress` request translated through chat (None: passed through)
    step_index: int = 0
    # A universal request whose one step is `compat`: the compat request it stands for, which Plan
    # puts in its place (pipeline/compat_step.py); and what planning took otherwise than asked.
    request: IncomingRequest | None = None
    warnings: tuple[str, ...] = ()
    route_holds: RouteHolds | None = None  # what its limit nodes reserved (taken once, to settle)
    # A route's targets that cannot take the request, left out of `steps` (pipeline/compat_route.py):
    # the log's first attempts, each at its place among the route's targets.
    left_out: tuple[Attempt, ...] = ()


@dataclass(slots=True)
class Exchange:
    """The request context handed from stage to stage: the `request` as it came, and what each
    stage produced, one attribute per stage that owns it (in pipeline order)."""

    request: IncomingRequest
    gateway: Gateway | None = None  # Resolve
    options: ClientOptions = field(default_factory=ClientOptions)  # Resolve, Authenticate
    token: Token | None = None  # Authenticate: the gateway token that authenticated the request
    plan: RequestPlan = field(default_factory=RequestPlan)  # Plan (later writers: see RequestPlan)
    guardrails: GuardrailReport = field(default_factory=GuardrailReport)  # Guardrails
    cache: CacheOutcome = field(default_factory=CacheOutcome)  # Cache, SemanticCache, Shadow
    limits: LimitOutcome = field(default_factory=LimitOutcome)  # RateLimit (`admitted_ahead`: Cache)
    response: ResponseRecord = field(default_factory=ResponseRecord)  # Attempts, Log
    timings: Timings = field(default_factory=Timings)  # Log
    # Whether the client's request came from a web page (it sent `Origin`; a WebSocket's upgrade
    # did): decided here, on the request as read, since a later stage may put a rebuilt request
    # in its place (pipeline/compat_step.py) whose headers need not say so (pipeline/keys.py).
    from_page: bool = False

    def __post_init__(self) -> None:
        self.from_page = self.from_page or "Origin" in self.request.headers

    @property
    def token_id(self) -> str | None:
        return self.token.id if self.token is not None else None

    @property
    def collects_log(self) -> bool:
        """Whether this request's record is stored (and so whether its answer may name one in
        `cf-aig-log-id`): its `cf-aig-collect-log` says, either way (Cloudflare: "if logging is
        disabled at the gateway level, this header will save the log for that request"), else the
        gateway's `collect_logs`; a request that reached no gateway is recorded. A universal
        step's own `cf-aig-collect-log` says it for the record of that step (`step`)."""
        step = self.step
        if step is not None and step.options is not None and step.options.collect_log is not None:
            return step.options.collect_log
        if self.options.collect_log is not None:
            return self.options.collect_log
        return self.gateway is None or self.gateway.settings.collect_logs

    @property
    def step(self) -> Step | None:
        plan = self.plan
        return plan.steps[plan.step_index] if plan.steps else None

    @property
    def custom_cost(self) -> CustomCost | None:
        """The `cf-aig-custom-cost` that prices the answer: its step's own, else the request's."""
        step = self.step
        own = step.options.custom_cost if step is not None and step.options is not None else None
        return own or self.options.custom_cost

    @property
    def counted_by_gateway(self) -> bool:
        """A token count the gateway answers itself (pipeline/token_count.py): the client's API
        counts (`IngressFormat.counts`) for a model of another provider. Nothing goes upstream."""
        ingress = self.request.ingress
        return ingress is not None and ingress.counts and self.plan.hub is not None

    @property
    def provider(self) -> Provider | None:
        plan = self.plan
        return plan.steps[plan.step_index].provider if plan.steps else None

    @property
    def provider_slug(self) -> str:
        """The provider that answered (or was tried last), else the URL's provider segment."""
        plan = self.plan
        return plan.steps[plan.step_index].provider.name if plan.steps else self.request.provider_name

    @property
    def facts(self) -> RequestFacts:
        plan = self.plan
        return plan.steps[plan.step_index].facts if plan.steps else NO_FACTS


# A generator of its own: code that reseeds the global `random` (tests do) must not repeat ids.
# Reseeded in a forked child (the workers of `serve --workers N`), which would otherwise draw the
# same bits as its siblings, as `random` does for its own generator.
_ID_BITS = random.Random()
os.register_at_fork(after_in_child=_ID_BITS.seed)


def new_log_id() -> str:
    """A time-ordered id (48-bit milliseconds, then 80 random bits, as hex) so ids sort by time.

    The random part only has to make ids unique, not unguessable (reading a log needs a token), so
    it comes from `random`, not from a system call per request.
    """
    return f"{time.time_ns() // 1_000_000:012x}{_ID_BITS.getrandbits(80):020x}"
