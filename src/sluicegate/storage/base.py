"""Storage protocols. The pipeline and endpoints use these, never a backend module.

One protocol per meaning (gateways, log writing, log reading, access, route history, reports,
the cache table); each consumer asks for only the ones it uses, and `Database` is their union,
which both backends implement. A URL picks the backend (`create_database` in
`storage/__init__.py`): `sqlite:///path` is the embedded default, PostgreSQL the scaled-out one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from sluicegate.analytics import AnalyticsSource
from sluicegate.feedback import Feedback
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.semantic_report import SemanticBins
from sluicegate.spend import SpendSource
from sluicegate.storage.cache import CacheStore
from sluicegate.storage.gateway_query import GatewayQuery
from sluicegate.tokens import TokenStore


@dataclass(slots=True)
class LogRecord:
    """One request as stored in the logs. Times are epoch seconds; latencies milliseconds."""

    id: str
    ts: float
    account: str
    gateway: str
    provider: str
    endpoint: str
    method: str
    model: str | None
    stream: bool
    status: int
    latency_ms: float
    ttfb_ms: float | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_estimated: bool = False
    cache_write_tokens: int | None = None  # part of tokens_in, billed at the cache-write price
    cost_usd: float | None = None
    unpriced: bool = False  # the request named a model that no price covers (cost_usd is None)
    cache_status: str = ""
    cache_source: str = ""  # which cache `cache_status` is about: "exact", "semantic" ("" for none)
    cache_saved_ms: float | None = None  # on a hit: the original request's latency
    rate_limited: bool = False
    semantic_hit: bool = False
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes | None = None
    response_body: bytes | None = None
    step: int | None = None  # the universal step that answered
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every try, when there was more than one
    degraded: str | None = None  # what the record lacks and why (e.g. a body that could not be masked)
    feedback: int | None = None  # human feedback given later: -1, 0 (not evaluated) or 1 (see feedback.py)
    score: float | None = None  # likewise: 0-100
    token_id: str | None = None  # the gateway token the request came with
    key_name: str | None = None  # the stored provider key the answer came with: its name, never the key
    # A semantic lookup's best candidate (hit or miss): its similarity, the verifier's verdict
    # (None: not judged) and NLI score (None: the model did not run). Shadow requests carry the
    # hit's similarity, and whether the fresh answer agreed with the cached one.
    semantic_similarity: float | None = None
    semantic_verified: bool | None = None
    semantic_score: float | None = None
    saved_usd: float | None = None  # on a cache hit: what its answer would have cost upstream
    shadow_of: str | None = None  # a shadow request: the log id of the semantic hit it checked
    shadow_agreed: bool | None = None
    # Each stored body's whole size in bytes (masked and redacted as stored), before it was cut to
    # `logs.body_limit`: the stored body is whole when it is that long. None: no body was stored,
    # or the record is older than sizes (its cut cannot be told).
    request_size: int | None = None
    response_size: int | None = None
    # The status of the upstream's answer the request ended with. None: the gateway answered it
    # itself (a cache hit, its own refusal, a try that got no answer), or an earlier version stored it.
    upstream_status: int | None = None

    def body_size(self, which: str) -> int | None:
        """The whole size of a stored body ("request" or "response"), when known (`request_size`)."""
        body, size = self._body_and_size(which)
        return None if body is None else size

    def body_complete(self, which: str) -> bool | None:
        """Whether a stored body is all of it (not cut to `logs.body_limit`); None when no body was
        stored or the record is older than sizes."""
        body, size = self._body_and_size(which)
        return None if body is None or size is None else len(body) >= size

    def _body_and_size(self, which: str) -> tuple[bytes | None, int | None]:
        if which == "request":
            return self.request_body, self.request_size
        return self.response_body, self.response_size


# What a `LogCondition` can compare. `success`: a status from 200 to 399; `cached`: an exact or
# semantic cache hit; `tokens`: input plus output; `metadata_key` / `metadata_value`: any key or
# value of the record's metadata; `text`: model, provider, endpoint and metadata together;
# `feedback`: -1, 0 or 1, None when nobody gave any.
LogField = Literal[
    "id", "ts", "provider", "model", "endpoint", "success", "cached", "cost_usd", "tokens",
    "tokens_in", "tokens_out", "latency_ms", "metadata_key", "metadata_value", "text", "feedback",
]  # fmt: skip
LogOperator = Literal["eq", "neq", "contains", "lt", "gt", "le", "ge"]
LogValue = str | float | bool | None
LOG_ORDER_FIELDS: frozenset[LogField] = frozenset(
    {"ts", "provider", "model", "success", "cached", "cost_usd", "tokens_in", "tokens_out", "latency_ms"}
)


@dataclass(frozen=True, slots=True)
class LogCondition:
    """`field op value`. `eq` and `contains` (case-insensitive) hold when any of `values` matches,
    `neq` when none does (None stands for a missing value); `lt`, `gt`, `le`, `ge` compare with the
    one value, and a record without the field never passes them."""

    field: LogField
    op: LogOperator
    values: tuple[LogValue, ...]


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of a log listing; `cursor` is the id of the last record of the previous page.

    `conditions` all hold besides the named filters. `order` sorts by one of `LOG_ORDER_FIELDS`
    (descending when its flag is true) and then by id the same way (`ts` by id alone: ids sort as
    their times do); without it, newest first.
    `offset` skips that many records of the ordered result (page-numbered listings).
    """

    account: str
    gateway: str | None = None
    gateways: tuple[str, ...] | None = None  # only these (a token limited to some); None: any
    since: float | None = None
    until: float | None = None
    provider: str | None = None
    model: str | None = None
    status_min: int | None = None
    status_max: int | None = None
    cached: bool | None = None
    cursor: str | None = None
    after: str | None = None  # only records newer than this id, oldest first (for following, exporting)
    feedback: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    limit: int = 50
    conditions: tuple[LogCondition, ...] = ()
    order: tuple[LogField, bool] | None = None
    offset: int = 0


class GatewayStore(Protocol):
    """Accounts' gateways."""

    async def get_gateway(self, account: str, slug: str) -> Gateway | None: ...

    async def list_gateways(self, account: str) -> list[Gateway]: ...

    async def gateway_page(self, query: GatewayQuery) -> list[Gateway]:
        """The gateways `query` selects, by slug; only its page's rows are read."""
        ...

    async def count_gateways(self, query: GatewayQuery) -> int:
        """How many gateways `query` selects, its page aside."""
        ...

    async def all_gateways(self) -> list[Gateway]:
        """Every gateway of every account (for background jobs)."""
        ...

    async def create_gateway(self, account: str, slug: str, name: str, settings: GatewaySettings) -> Gateway:
        """Raises `errors.Conflict` when the slug is taken in that account."""
        ...

    async def update_gateway(
        self,
        account: str,
        slug: str,
        name: str | None,
        settings: GatewaySettings | None,
        version: int | None = None,
    ) -> Gateway | None:
        """One version on; with `version`, only if still at it (else `errors.PreconditionFailed`)."""
        ...

    async def delete_gateway(self, account: str, slug: str) -> bool: ...


@runtime_checkable
class LineSink(Protocol):
    """A log store that stores spool lines (`logformat`'s JSON objects) without a `LogRecord` each."""

    async def write_log_lines(self, lines: list[bytes]) -> bool:
        """Store the lines' records (each id once); False, storing nothing, when a line is no
        record: the caller then parses them in Python."""
        ...


class LogSink(Protocol):
    """Where log records go (the log writer; it counts a gateway's records for its record cap)."""

    async def write_logs(self, records: list[LogRecord]) -> None: ...

    async def count_logs(self, account: str, gateway: str) -> int: ...


class LogReader(Protocol):
    """Reading stored log records back."""

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        """Newest first, at most `query.limit` records."""
        ...

    async def stored_logs(self, query: LogQuery, after: str) -> list[tuple[str, LogRecord]]:
        """At most `query.limit` records of `query.gateway` that `query` selects, in the order the
        database stored them, after the storage position `after` ("": from the first), each with
        its own position (`order`, `cursor`, `after` and `offset` are not read). A record stored
        later comes after every position read before: reading on from the last position finds
        it, whatever its id and time. Raises ValueError for a position the backend never gave."""
        ...

    async def get_log(self, account: str, log_id: str) -> LogRecord | None: ...

    async def count_logs(self, account: str, gateway: str) -> int: ...

    async def count_matching_logs(self, query: LogQuery) -> int:
        """How many records the query selects, ignoring its limit and offset."""
        ...


class LogStore(LogSink, LogReader, Protocol):
    """The whole log table: writing, reading, feedback and deleting."""

    async def annotate_log(
        self, account: str, gateway: str, log_id: str, change: Feedback
    ) -> LogRecord | None:
        """Apply `change` to the record (in one transaction: two PATCHes of its metadata both
        land); the record as it is now, or None when the gateway has no such record."""
        ...

    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: a gateway's records older than `before`, and all but its newest `keep_newest`."""
        ...

    async def delete_matching_logs(self, query: LogQuery) -> int:
        """Delete the records `query` selects (the first `limit` of them in its order; all when
        `limit` is negative). Returns how many were deleted."""
        ...


class GatewayRecords(GatewayStore, LogReader, Protocol):
    """Gateways and their records, read only: what an account-wide listing checks a slug against
    (a deleted gateway's records stay listable)."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A provider key stored for a gateway: only its fingerprint, never the key, leaves storage.

    A provider may have several, each under its own name (the key pool, spread by `weight`); the
    single-key API stores and removes the one named `default`.
    """

    account: str
    gateway: str
    provider: str
    fingerprint: str
    created_at: float
    name: str = "default"
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: float
    account: str
    actor: str  # the token id, or "cli"
    action: str  # e.g. token.create, gateway.update, cache.purge
    target: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RouteVersion:
    """One saved state of a gateway's route: its node as JSON, or None where the route was removed."""

    name: str
    version: int
    route: Any
    ts: float
    actor: str


class RouteHistory(Protocol):
    """Every version of every route of a gateway, numbered from 1 per route."""

    async def add_route_version(
        self, account: str, gateway: str, name: str, route: Any, ts: float, actor: str
    ) -> int:
        """Store `route` (None: removed) as the route's next version; returns its number."""
        ...

    async def route_versions(self, account: str, gateway: str, name: str) -> list[RouteVersion]:
        """The route's versions, newest first."""
        ...


CUSTOM_PREFIX = "custom-"  # an account's custom provider `slug` is reached as `custom-{slug}`


class CustomProvider(BaseModel):
    """A stored custom provider, without its headers' values (those stay sealed in storage)."""

    model_config = ConfigDict(frozen=True)

    id: str
    account: str
    slug: str
    name: str
    base_url: str
    enable: bool = True
    beta: bool = False
    description: str | None = None
    curl_example: str | None = None
    js_example: str | None = None
    link: str | None = None
    position: int = 0
    header_names: tuple[str, ...] = ()
    created_at: float
    modified_at: float

    @property
    def provider_name(self) -> str:
        """What requests call it: the URL segment and the compat model prefix."""
        return CUSTOM_PREFIX + self.slug


class CustomProviderStore(Protocol):
    """Custom providers with their sealed headers (None when there are none)."""

    async def create_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> None:
        """Raises `errors.Conflict` when the account already has a provider with that slug."""
        ...

    async def update_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> bool:
        """Replace the stored provider of that account and id (False when there is none); raises
        `errors.Conflict` when its new slug is another provider's."""
        ...

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        """The account's providers, by slug."""
        ...

    async def delete_custom_provider(self, account: str, provider_id: str) -> bool: ...


class ProviderKeyStore(Protocol):
    """Sealed provider keys, by gateway, provider and name."""

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None:
        """Store `key` under its provider and name, replacing a key stored there before."""
        ...

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        """The gateway's keys, by provider then name."""
        ...

    async def delete_provider_key(self, account: str, gateway: str, provider: str, name: str) -> bool: ...


class AuditTrail(Protocol):
    async def record_audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]: ...


class AccessStore(TokenStore, ProviderKeyStore, AuditTrail, CustomProviderStore, Protocol):
    """Who may do what: tokens, sealed provider keys, the audit trail and custom providers."""


class Reports(AnalyticsSource, SpendSource, SemanticBins, Protocol):
    """Figures summed over the logs: analytics, spend, the semantic cache's what-if bins."""


class Database(GatewayStore, LogStore, AccessStore, RouteHistory, Reports, CacheStore, Protocol):
    """A backend: every protocol above; opened once and closed at shutdown."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...
