"""Turning a finished exchange into a log record: usage, cost, masked headers, bounded bodies.

This is CPU work (JSON and SSE parsing, tokenizing), so the logbook runs it in batches on a worker
thread after the responses have gone out; nothing here is on the request path.
"""

from __future__ import annotations

from dataclasses import asdict

from sluicegate.exchange import Exchange
from sluicegate.headertext import header_text
from sluicegate.redaction import redactor
from sluicegate.storage.base import LogRecord
from sluicegate.types import CacheStatus, Usage
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter

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
    def __init__(self, tokens: TokenCounter, prices: PriceTable, body_limit: int) -> None:
        self._tokens = tokens
        self._prices = prices
        self._body_limit = body_limit

    def build(self, exchange: Exchange) -> LogRecord:
        started = exchange.started
        finished = exchange.finished_at or started
        usage = self._usage(exchange)
        step = exchange.step
        return LogRecord(
            id=exchange.id,
            ts=exchange.received_at,
            account=exchange.account,
            gateway=exchange.gateway_slug,
            provider=step.provider.name if step else exchange.provider_name,
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
            cost_usd=self._cost(exchange, usage),
            cache_status=str(exchange.cache_status),
            cache_saved_ms=exchange.cache_saved_ms,
            rate_limited=exchange.rate_limited,
            semantic_hit=exchange.semantic_hit,
            error=exchange.error or _upstream_error(exchange),
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

    def _usage(self, exchange: Exchange) -> Usage | None:
        step, body = exchange.step, exchange.response_body
        if step is None or not 200 <= exchange.status < 300 or not body:
            return None
        provider, route = step.reader or step.provider, step.route
        if exchange.streamed:
            usage = provider.read_stream_usage(route, body)
        else:
            usage = provider.read_usage(route, body)
        if usage is not None or exchange.facts.payload is None:
            return usage
        # The provider reported nothing (e.g. a stream without include_usage): count it ourselves.
        model = exchange.facts.model
        text = provider.output_text(route, body, exchange.streamed)
        return Usage(
            input_tokens=self._tokens.count_any_input(exchange.facts.payload, model),
            output_tokens=self._tokens.count_text(text, model),
            estimated=True,
        )

    def _cost(self, exchange: Exchange, usage: Usage | None) -> float | None:
        if usage is None:
            return None
        if exchange.cache_status is CacheStatus.HIT or exchange.semantic_hit:
            return 0.0  # answered by the gateway: nothing was billed
        if exchange.custom_cost is not None:
            return exchange.custom_cost.cost(usage)
        if exchange.facts.model is None:
            return None
        step = exchange.step
        provider = step.provider.name if step else exchange.provider_name
        return self._prices.cost(provider, exchange.facts.model, usage)


def mask_headers(headers: object) -> dict[str, str]:
    """Header name (lower case) -> value, with credentials replaced by a mask. Values are made
    storable text: one value that is not UTF-8 would otherwise fail its whole batch of records."""
    masked: dict[str, str] = {}
    for name, value in headers:  # type: ignore[attr-defined]
        lower = name.lower()
        masked[lower] = MASK if lower in SECRET_HEADERS else header_text(value)
    return masked


def _upstream_error(exchange: Exchange) -> str | None:
    """For an upstream 4xx/5xx, the start of its body says what went wrong."""
    if exchange.status < 400 or not exchange.response_body:
        return None
    return exchange.response_body[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace")
