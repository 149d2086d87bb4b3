"""The admin API's log records (`GET …/logs`, `…/logs/{id}`): bodies, headers and whether each
body was cut to `logs.body_limit` in the single-record view only."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, Field

from sluicegate.storage.base import LogRecord


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
    cache_write_tokens: int | None = Field(
        None, description="input tokens written to the provider's prompt cache (part of tokens_in)"
    )
    usage_estimated: bool
    cost_usd: float | None
    unpriced: bool = Field(
        False,
        description="the model has no known price: cost_usd is null (on a cache hit, 0, and saved_usd null)",
    )
    cache_status: str = Field(description="HIT, MISS, BYPASS, or empty when no cache applied")
    cache_source: str = Field(
        "", description="which cache the status is about: exact or semantic; shadow: a shadow request"
    )
    cache_saved_ms: float | None = Field(None, description="on a cache hit: the time it saved")
    rate_limited: bool = False
    semantic_hit: bool = False
    error: str | None
    metadata: dict[str, Any]
    step: int | None = Field(None, description="the universal step that answered")
    attempts: list[dict[str, Any]] = Field(
        default_factory=list, description="every try (step, provider, status, latency_ms, error) when retried"
    )
    degraded: str | None = Field(
        None, description="what this record lacks and why, e.g. a body omitted because it could not be masked"
    )
    feedback: int | None = Field(None, description="human feedback: -1, 0 (not evaluated) or 1")
    score: float | None = Field(None, description="a score from 0 to 100 given with the feedback")
    token_id: str | None = Field(None, description="the gateway token the request came with")
    key_name: str | None = Field(
        None, description="the stored provider key the answer came with: its name, never the key"
    )
    semantic_similarity: float | None = Field(
        None, description="a semantic lookup's (or shadow request's) best candidate: its similarity"
    )
    semantic_verified: bool | None = Field(
        None, description="whether the verifier accepted that candidate; null when it did not judge it"
    )
    semantic_score: float | None = Field(
        None, description="the verifier's NLI score; on a shadow request, the cosine of the two answers"
    )
    saved_usd: float | None = Field(None, description="on a cache hit: what its answer would have cost")
    shadow_of: str | None = Field(None, description="a shadow request: the id of the semantic hit it checked")
    shadow_agreed: bool | None = Field(
        None, description="a shadow request: whether the fresh answer agreed with the cached one"
    )
    upstream_status: int | None = Field(
        None,
        description="the status of the upstream's answer the request ended with; null when the gateway"
        " answered itself (a cache hit, its own refusal, a try that got no answer) or for a record"
        " stored by an earlier version",
    )
    request_headers: dict[str, str] | None = None
    request_body: str | None = None
    request_body_complete: bool | None = Field(
        None,
        description="false when request_body was cut to logs.body_limit; null when none was stored or the"
        " record is older than body sizes (single-record view only)",
    )
    request_body_size: int | None = Field(
        None, description="the request body's whole size in bytes, as stored before the cut"
    )
    response_body: str | None = None
    response_body_complete: bool | None = Field(
        None, description="false when response_body was cut to logs.body_limit (as request_body_complete)"
    )
    response_body_size: int | None = Field(
        None, description="the response body's whole size in bytes, as stored before the cut"
    )

    @classmethod
    def of(cls, record: LogRecord, detail: bool = False) -> LogEntry:
        values = {name: getattr(record, name) for name in cls.model_fields if hasattr(record, name)}
        if detail:
            for which in ("request", "response"):
                values[f"{which}_body"] = _text(getattr(record, f"{which}_body"))
                values[f"{which}_body_complete"] = record.body_complete(which)
                values[f"{which}_body_size"] = record.body_size(which)
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
