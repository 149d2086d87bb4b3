"""The admin API's request and response bodies; the OpenAPI schema is generated from these."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sluicegate.gateway import SLUG_PATTERN, Gateway, GatewaySettings
from sluicegate.storage.base import LogRecord


class GatewayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        None, pattern=SLUG_PATTERN, description="URL segment; derived from name if unset"
    )
    settings: GatewaySettings = GatewaySettings()


class GatewayUpdate(BaseModel):
    """A partial update: only the fields given change; `settings` merges into the current settings."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


class GatewayOut(BaseModel):
    account: str
    slug: str
    name: str
    settings: GatewaySettings
    created_at: float

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayOut:
        return cls.model_validate(gateway.model_dump())


class GatewayList(BaseModel):
    result: list[GatewayOut]


class LogEntry(BaseModel):
    """One log record. Bodies and headers appear only in the single-record view."""

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
    tokens_in: int | None
    tokens_out: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    usage_estimated: bool
    cost_usd: float | None
    cache_status: str
    cache_saved_ms: float | None = Field(None, description="on a cache hit: the time it saved")
    rate_limited: bool = False
    error: str | None
    metadata: dict[str, Any]
    step: int | None = Field(None, description="the universal step that answered")
    attempts: list[dict[str, Any]] = Field(
        default_factory=list, description="every try (step, provider, status, latency_ms, error) when retried"
    )
    request_headers: dict[str, str] | None = None
    request_body: str | None = None
    response_body: str | None = None

    @classmethod
    def of(cls, record: LogRecord, detail: bool = False) -> LogEntry:
        values = {name: getattr(record, name) for name in cls.model_fields if hasattr(record, name)}
        if detail:
            values["request_body"] = _text(record.request_body)
            values["response_body"] = _text(record.response_body)
        else:
            values.update(request_headers=None, request_body=None, response_body=None)
        return cls.model_validate(values)


class LogPage(BaseModel):
    result: list[LogEntry]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next (older) page")


def _text(body: bytes | None) -> str | None:
    """Bodies are text when they are UTF-8 (JSON, SSE), else base64 with a prefix that says so."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(body).decode()
