"""Turning a finished exchange and its outcome into a log record: masked headers, bounded bodies.

Usage and cost come from the outcome (measured once, see `outcome/`). Redacting bodies is CPU
work, so the logbook runs this in batches on a worker thread after the responses have gone out.
"""

from __future__ import annotations

from dataclasses import asdict

from sluicegate.exchange import Exchange
from sluicegate.outcome import Outcome
from sluicegate.redaction import redactor
from sluicegate.storage.base import LogRecord

# Headers that carry credentials: their values never reach a log record.
SECRET_HEADERS = frozenset(
    {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
        "cf-aig-authorization", "fastly-key", "x-sluicegate-token", "cookie", "set-cookie",
    }
)  # fmt: skip
MASK = "[redacted]"
_ERROR_TEXT_LIMIT = 2000


class RecordBuilder:
    def __init__(self, body_limit: int) -> None:
        self._body_limit = body_limit

    def build(self, exchange: Exchange, outcome: Outcome) -> LogRecord:
        started = exchange.started
        finished = exchange.finished_at or started
        usage = outcome.usage
        step = exchange.step
        return LogRecord(
            id=exchange.id,
            ts=exchange.received_at,
            account=exchange.account,
            gateway=exchange.gateway_slug,
            provider=exchange.provider_slug,
            endpoint=step.route.path if step else exchange.route.path,
            method=exchange.method,
            model=exchange.facts.model,
            stream=exchange.streamed,
            status=exchange.status,
            latency_ms=(finished - started) * 1000,
            ttfb_ms=(exchange.first_byte_at - started) * 1000 if exchange.first_byte_at else None,
            tokens_in=usage.input_tokens if usage else None,
            tokens_out=usage.output_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            reasoning_tokens=usage.reasoning_tokens if usage else None,
            usage_estimated=usage.estimated if usage else False,
            cost_usd=outcome.cost_usd,
            unpriced=outcome.unpriced,
            cache_status=str(exchange.cache_status),
            cache_saved_ms=exchange.cache_saved_ms,
            rate_limited=exchange.rate_limited,
            semantic_hit=exchange.semantic_hit,
            error=exchange.error or upstream_error(exchange),
            metadata=exchange.metadata,
            request_headers=mask_headers(exchange.headers.items()),
            request_body=self._body(exchange, exchange.body),
            response_body=self._body(exchange, exchange.response_body),
            step=exchange.step_index if step else None,
            attempts=[asdict(attempt) for attempt in exchange.attempts] if len(exchange.attempts) > 1 else [],
        )

    def _body(self, exchange: Exchange, body: bytes) -> bytes | None:
        """A body as stored: none when payloads are not collected, redacted, then cut to the limit."""
        settings = exchange.gateway.settings if exchange.gateway else None
        if not body or not exchange.collect_payload or (settings and not settings.collect_payloads):
            return None
        if settings and (settings.redact_paths or settings.redact_patterns):
            body = redactor(tuple(settings.redact_paths), tuple(settings.redact_patterns)).redact(body)
        return body[: self._body_limit]


def mask_headers(headers: object) -> dict[str, str]:
    """Header name (lower case) -> value, with credentials replaced by a mask."""
    masked: dict[str, str] = {}
    for name, value in headers:  # type: ignore[attr-defined]
        lower = name.lower()
        masked[lower] = MASK if lower in SECRET_HEADERS else value
    return masked


def upstream_error(exchange: Exchange) -> str | None:
    """For an upstream 4xx/5xx, the start of its body says what went wrong."""
    if exchange.status < 400 or not exchange.response_body:
        return None
    return exchange.response_body[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace")
