"""The process settings' groups, one model per meaning, and where each older top-level key now lives.

A value that used to serve several purposes is one setting per purpose here; the new ones default to
the value they were split from (given or defaulted), so a configuration that sets only the old one
behaves as before.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_BODY_BYTES = 10 * 1024 * 1024
# OpenAI's `input_audio_buffer.append` takes up to 15 MiB of audio in one event, base64 in its JSON
# (20 MiB): that and the event around it. A session holds at most one message each way in memory.
REALTIME_MESSAGE_BYTES = 21 * 1024 * 1024
UPSTREAM_TIMEOUT = 600.0  # the official OpenAI and Anthropic SDKs' own default


def _follow(values: Any, source: str, default: Any, *followers: str) -> Any:
    """Give each follower the source's value unless it was set itself."""
    if isinstance(values, dict):
        values = dict(values)
        for name in followers:
            values.setdefault(name, values.get(source, default))
    return values


def http_url(value: str) -> str:
    """`value` when it is an http(s) URL with a host, else a ValueError saying what is wrong. The
    message shows at most the scheme, host and port: a URL may hold credentials (user:pass@, a key
    in the query), and it goes to the terminal and the process's logs. `127.0.0.1:4318` parses as a
    URL (scheme `127.0.0.1`, or none): taken, it would fail on every use instead."""
    example = "such as http://127.0.0.1:8000/v1"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
    except ValueError as exc:
        # urlsplit's own messages may quote the netloc, userinfo included.
        port = "port" in str(exc).lower()
        raise ValueError(
            "not a URL: its port is not a number from 0 to 65535"
            if port
            else "not a URL: its host does not parse"
        ) from None
    scheme, found, _ = value.partition("://")
    if not found or not _SCHEME.fullmatch(scheme):
        raise ValueError(f"not a URL: no http:// or https:// before the host, {example}")
    if scheme.lower() not in ("http", "https"):
        shown = f" ({scheme}://{_host_port(parts)})" if parts.hostname else ""
        raise ValueError(f"scheme {scheme!r}{shown} is not http or https, {example}")
    if not parts.hostname:
        raise ValueError(f"{scheme}:// URL without a host, {example}")
    return value


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")


def _host_port(parts: SplitResult) -> str:
    """host[:port] without userinfo (bracketed when IPv6)."""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port is not None else host


class Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(Group):
    """How big things may be."""

    max_body_bytes: int = Field(MAX_BODY_BYTES, gt=0, description="largest request body (else 413)")
    cache_entry_bytes: int = Field(
        MAX_BODY_BYTES,
        gt=0,
        description=(
            "largest answer the exact cache stores, and answer with its question the semantic cache"
            " stores (default: limits.max_body_bytes)"
        ),
    )
    log_tee_bytes: int = Field(
        MAX_BODY_BYTES,
        gt=0,
        description="bytes of a streamed answer (its end) kept while it streams, to read its usage and"
        " write its log record (default: limits.max_body_bytes)",
    )
    realtime_message_bytes: int = Field(
        REALTIME_MESSAGE_BYTES,
        gt=0,
        description="largest WebSocket message of a realtime session, either way (else the side that"
        " sent it is closed with 1009); the default takes OpenAI's largest `input_audio_buffer.append`,"
        " 15 MiB of audio base64-encoded, and a session may hold that much in memory each way",
    )
    websocket_requests_in_flight: int = Field(
        16,
        gt=0,
        description="requests one connection of the universal endpoint's WebSockets API may have under way"
        " at once (a message past them is answered with a 429 error event, and not run)",
    )

    @model_validator(mode="before")
    @classmethod
    def _split_from_max_body_bytes(cls, values: Any) -> Any:
        return _follow(
            values,
            "max_body_bytes",
            MAX_BODY_BYTES,
            "cache_entry_bytes",
            "log_tee_bytes",
        )


class Timeouts(Group):
    """How long things may take, in seconds."""

    body_timeout: float = Field(
        30.0, gt=0, description="seconds a client has to send a whole request body (else 408)"
    )
    header_timeout: float = Field(
        30.0,
        gt=0,
        description="seconds a client has to send a request line and its headers, from the"
        " connection's start or, on a kept-alive connection, from the next request's first byte"
        " (else 408 and the connection closed; one that sent nothing is closed; neither is logged)",
    )
    keepalive_timeout: float = Field(
        75.0,
        gt=0,
        description="seconds a kept-alive connection may stay idle between requests before it is"
        " closed (aiohttp's own default is an hour); keep it above the idle timeout of a load"
        " balancer in front (60 s on AWS ALB; Google Cloud's needs more than 600)",
    )
    stop_grace: float = Field(
        60.0,
        gt=0,
        description="seconds answers in flight get to finish once a stop (SIGTERM, SIGINT) begins; then"
        " the connections still open are closed (a stream cut short), so the stop is bounded: keep it"
        " below the supervisor's own (systemd's TimeoutStopSec, Kubernetes' grace period)",
    )
    connect_timeout: float = Field(10.0, gt=0, description="seconds to connect to an upstream")
    upstream_timeout: float = Field(
        UPSTREAM_TIMEOUT,
        gt=0,
        description="seconds an upstream exchange may stand still: until an answer starts (an answer"
        " read whole: all of it), then between a stream's parts, the upstream sending one or the"
        " client taking one; a stream that keeps moving is never cut (else 504 upstream_timeout;"
        " a client that stops reading is disconnected, its upstream connection closed)",
    )
    retry_deadline: float = Field(
        UPSTREAM_TIMEOUT,
        gt=0,
        description="seconds from a request's first attempt within which an answer must start, retries"
        " and fallbacks included (else 504 deadline_exceeded; default: timeouts.upstream_timeout)",
    )
    coalesce_wait: float = Field(
        UPSTREAM_TIMEOUT,
        gt=0,
        description="seconds a request waits for an identical one already in flight to fill the cache"
        " before going upstream itself (default: timeouts.upstream_timeout)",
    )

    database_read: float = Field(
        5.0,
        gt=0,
        description="seconds a request waits for the database to read a gateway, token or key this"
        " replica has not seen yet (else 503 database_unavailable, as when it is refused); a refresh"
        " of one it has seen is given up after as long (the known value is served meanwhile)",
    )
    database_write: float = Field(
        5.0,
        gt=0,
        description="seconds a batch of log records may take to store before the try counts as failed"
        " (the records wait in the spool; the status says failing_since)",
    )
    database_statement: float = Field(
        60.0,
        gt=0,
        description="PostgreSQL: seconds any one statement may take (asyncpg's command_timeout), so a"
        " connection to a server that stopped answering is given up; migrations are not bounded",
    )
    database_connect: float = Field(
        10.0, gt=0, description="PostgreSQL: seconds to open a connection (asyncpg's default is 60)"
    )

    @model_validator(mode="before")
    @classmethod
    def _split_from_upstream_timeout(cls, values: Any) -> Any:
        return _follow(values, "upstream_timeout", UPSTREAM_TIMEOUT, "retry_deadline", "coalesce_wait")


class Stores(Group):
    """Where state lives: the database, the exact cache, the rate-limit counters, the output items
    of Responses answers."""

    database_url: str = Field(
        "", description="sqlite:///path or postgresql://user@host/db[?schema=name]; empty: SQLite in data_dir"
    )
    cache_url: str = Field(
        "",
        description="redis://… shares the cache, rate-limit counters and routing state between replicas;"
        " empty: in-process",
    )
    cache_max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="bytes the in-process cache may hold")
    counters_flush_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="seconds between copies of the in-process rate-limit counters to counters.db"
        " (what settles meanwhile is in the charge journal: neither a kill nor a clean stop loses it)",
    )
    counters_lease: float = Field(
        30.0,
        ge=0.3,
        le=3600,
        description="seconds a token or cost reservation in Redis counts unless its process renews it"
        " (every third of this): a replica that dies mid-request stops holding its reservations"
        " within this long",
    )
    rate_limit_failure: Literal["open", "closed"] = Field(
        "open",
        description="when the shared rate-limit counters are unreachable: admit (open) or refuse (closed)",
    )
    response_items_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="bytes of output items (answer text, tool calls) of the answers …/compat/responses"
        " renders that are kept for a later request to name by id (item_reference), each item counted"
        " with its key and 400 bytes: in the process, least recently used dropped first; in Redis"
        " instead when cache_url is redis://…, new items not kept while full; 0 keeps none",
    )
    response_items_ttl: float = Field(
        3600.0,
        gt=0,
        description="seconds an output item is kept after it was rendered or last named",
    )


class Logs(Group):
    """The request log: how it is written, kept and trimmed."""

    batch_size: int = Field(500, gt=0, description="log records written per database transaction")
    flush_interval: float = Field(0.2, gt=0, description="seconds between log writes")
    body_limit: int = Field(256 * 1024, ge=0, description="bytes of each body kept in a log record")
    spool_max_bytes: int = Field(
        1024 * 1024 * 1024,
        gt=0,
        description="bytes of log records the spool keeps on disk while the database cannot take"
        " them; past it the oldest are dropped",
    )
    retention_interval: float = Field(3600, gt=0, description="seconds between log retention passes")


class Telemetry(Group):
    """What the process tells monitoring: traces, OTLP log records, Prometheus metrics."""

    otlp_endpoint: str = Field(
        "", description="an OTLP/HTTP collector, e.g. http://127.0.0.1:4318: spans per request"
    )
    otlp_logs_endpoint: str = Field(
        "",
        description="an OTLP/HTTP collector, e.g. http://127.0.0.1:4318: an OpenTelemetry log record per"
        " stored request log (POSTed to /v1/logs; attributes only, no headers or bodies)",
    )
    metrics_require_token: bool = Field(
        False, description="/metrics answers only a read token not limited to gateways (Bearer)"
    )
    metrics_models_per_provider: int = Field(
        100, ge=0, description="distinct model labels per provider in /metrics; later ones count as _other"
    )

    @field_validator("otlp_endpoint", "otlp_logs_endpoint")
    @classmethod
    def _http_url_or_empty(cls, value: str) -> str:
        return http_url(value) if value else value


# The stores' settings from before the grouping (the later ones never were top-level keys).
_STORES_BEFORE = (
    "database_url",
    "cache_url",
    "cache_max_bytes",
    "counters_flush_interval",
    "rate_limit_failure",
)
# The older top-level key -> (group, key in it). These keep working in the TOML file, as
# SLUICEGATE_<KEY> and as load_settings keywords.
MOVED: dict[str, tuple[str, str]] = {
    **{name: ("limits", name) for name in ("max_body_bytes",)},
    **{name: ("timeouts", name) for name in ("body_timeout", "connect_timeout", "upstream_timeout")},
    **{name: ("stores", name) for name in _STORES_BEFORE},
    **{
        f"log_{name}": ("logs", name)
        for name in ("batch_size", "flush_interval", "body_limit", "spool_max_bytes")
    },
    "retention_interval": ("logs", "retention_interval"),
    **{name: ("telemetry", name) for name in Telemetry.model_fields},
}


class ConflictingKeys(ValueError):
    """An older top-level key and its grouped key, given different values: which one was meant
    cannot be told, so neither is picked."""


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """Move older top-level keys into their group; `ConflictingKeys` when a setting is given both
    ways with different values (the same value twice is fine)."""
    nested = {key: value for key, value in values.items() if key not in MOVED}
    for old, (group, name) in MOVED.items():
        if old in values:
            target = nested.setdefault(group, {})
            if isinstance(target, dict):
                if name in target and target[name] != values[old]:
                    raise ConflictingKeys(
                        f"top-level {old} and [{group}] {name} both set {group}.{name}, to different"
                        " values: keep one (the top-level key is its older name)"
                    )
                nested[group] = {name: values[old], **target}
    return nested
