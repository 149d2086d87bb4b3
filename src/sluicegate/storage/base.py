"""Storage protocols. The pipeline and endpoints use these, never a backend module.

A URL picks the backend (`create_storage` in `storage/__init__.py`): `sqlite:///path` is the
embedded default; PostgreSQL and Redis implement the same protocols for scaled-out deployments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sluicegate.gateway import Gateway, GatewaySettings
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
    token_id: str | None = None  # the gateway token the request came with


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of a log listing; `cursor` is the id of the last record of the previous page."""

    account: str
    gateway: str | None = None
    since: float | None = None
    until: float | None = None
    provider: str | None = None
    model: str | None = None
    status_min: int | None = None
    status_max: int | None = None
    cached: bool | None = None
    cursor: str | None = None
    after: str | None = None  # only records newer than this id, oldest first (for following)
    limit: int = 50


class Store(Protocol):
    """Accounts' gateways (and, later, tokens and provider keys)."""

    async def get_gateway(self, account: str, slug: str) -> Gateway | None: ...

    async def list_gateways(self, account: str) -> list[Gateway]: ...

    async def all_gateways(self) -> list[Gateway]:
        """Every gateway of every account (for background jobs)."""
        ...

    async def create_gateway(self, account: str, slug: str, name: str, settings: GatewaySettings) -> Gateway:
        """Raises `errors.Conflict` when the slug is taken in that account."""
        ...

    async def update_gateway(
        self, account: str, slug: str, name: str | None, settings: GatewaySettings | None
    ) -> Gateway | None: ...

    async def delete_gateway(self, account: str, slug: str) -> bool: ...


class LogSink(Protocol):
    """Where log records go, and how they are read back."""

    async def write_logs(self, records: list[LogRecord]) -> None: ...

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        """Newest first, at most `query.limit` records."""
        ...

    async def get_log(self, account: str, log_id: str) -> LogRecord | None: ...

    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: a gateway's records older than `before`, and all but its newest `keep_newest`."""
        ...

    async def count_logs(self, account: str, gateway: str) -> int: ...


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A provider key stored for a gateway: only its fingerprint, never the key, leaves storage."""

    account: str
    gateway: str
    provider: str
    fingerprint: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: float
    account: str
    actor: str  # the token id, or "cli"
    action: str  # e.g. token.create, gateway.update, cache.purge
    target: str
    details: dict[str, Any]


class AccessStore(TokenStore, Protocol):
    """Tokens, sealed provider keys and the audit trail."""

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None: ...

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]: ...

    async def delete_provider_key(self, account: str, gateway: str, provider: str) -> bool: ...

    async def record_audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]: ...


class Database(Store, LogSink, AccessStore, Protocol):
    """A backend that holds both; opened once and closed at shutdown."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...
