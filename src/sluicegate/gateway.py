"""Gateways: an account's named entry points, each with its own settings and logs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluicegate.types import Backoff

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)

DEFAULT_ACCOUNT = "local"
DEFAULT_GATEWAY = "default"


class RateLimitRule(BaseModel):
    """At most `limit` requests, tokens or USD per `period` seconds, per value of `scope`.

    `scope`: `gateway` (one bucket), `token` (per gateway token), `provider`, `model`, or
    `metadata.<field>` (per value of that `cf-aig-metadata` field, e.g. `metadata.user`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("", max_length=100, description="shown in the 429 error; derived when empty")
    limit: float = Field(gt=0, description="requests, tokens or USD (see unit) admitted per period")
    period: int = Field(gt=0, le=366 * 24 * 3600, description="seconds")
    technique: Literal["fixed", "sliding"] = Field(
        "fixed", description="fixed windows, or sliding: never more than limit in any period-long window"
    )
    unit: Literal["requests", "tokens", "cost"] = Field(
        "requests", description="what is counted; tokens and cost are charged with each answer's usage"
    )
    scope: str = Field(
        "gateway",
        pattern=r"^(gateway|token|provider|model|metadata\.[A-Za-z0-9_.-]{1,64})$",
        description="one counter for the gateway, or one per token, provider, model or metadata.<field>",
    )

    @property
    def label(self) -> str:
        return (
            self.name
            or f"{self.limit:g} {self.unit} per {self.period} s ({self.technique}, per {self.scope})"
        )


class GatewaySettings(BaseModel):
    """Per-gateway behaviour. Every field has a default, so `{}` is a valid settings object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    authentication: bool = Field(
        False, description="require a gateway token with the run scope on proxy requests"
    )
    collect_logs: bool = Field(True, description="store a log record for each request")
    collect_payloads: bool = Field(True, description="store request and response bodies in log records")
    retention_days: float = Field(30, gt=0, description="log records older than this are deleted")
    max_records: int | None = Field(None, gt=0, description="at most this many log records are kept")
    on_max_records: Literal["delete_oldest", "stop"] = Field(
        "delete_oldest", description="when max_records is reached: delete the oldest, or stop inserting"
    )
    redact_paths: list[str] = Field(
        default_factory=list,
        description="JSON paths redacted from stored bodies, e.g. messages.*.content ('*': any item)",
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions redacted from stored bodies (e.g. e-mail addresses)",
    )
    request_timeout_ms: int | None = Field(
        None, gt=0, description="default time for each attempt until its response starts"
    )
    cache_enabled: bool = Field(False, description="answer identical requests from the cache")
    cache_ttl: int = Field(300, ge=60, le=30 * 24 * 3600, description="default seconds a cached answer lives")
    semantic_cache_enabled: bool = Field(False, description="answer similar questions from the cache")
    semantic_threshold: float = Field(
        0.90,
        ge=0,
        le=1,
        description="cosine similarity a hit needs (then verification); see make eval-semantic",
    )
    cache_per_key: bool = Field(
        False, description="keep separate cache entries per provider key (for multi-tenant gateways)"
    )
    rate_limits: list[RateLimitRule] = Field(
        default_factory=list, description="all apply; the strictest decides"
    )
    max_attempts: int = Field(1, ge=1, le=5, description="default tries per step (retries + 1)")
    retry_delay_ms: int = Field(100, ge=0, le=5000, description="default base wait between retries")
    backoff: Backoff = Field(Backoff.CONSTANT, description="default growth of the wait between retries")

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return patterns


class Gateway(BaseModel):
    """A stored gateway. `slug` is its URL segment; `name` is for people."""

    model_config = ConfigDict(frozen=True)

    account: str
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    settings: GatewaySettings = GatewaySettings()
    created_at: float


def slugify(name: str) -> str:
    """A URL slug from a display name: lower case, runs of other characters become one `-`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))
