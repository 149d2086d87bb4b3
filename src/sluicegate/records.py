"""Turning a finished exchange into a log record: usage, cost, masked credentials, bounded bodies.

This is CPU work (JSON and SSE parsing, tokenizing), so the logbook runs it in batches on a worker
thread after the responses have gone out; nothing here is on the request path. A record that
cannot be built whole is stored without what failed, with `degraded` saying what is missing: one
odd request never costs the records of the others in its batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from sluicegate.credentials import Secrets, Unmaskable, mask_headers, mask_universal_body
from sluicegate.exchange import Exchange
from sluicegate.redaction import BUDGET_S, PatternError, RedactionFailed, redactor
from sluicegate.storage.base import LogRecord
from sluicegate.types import CacheStatus, Usage
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter

_log = logging.getLogger(__name__)
_ERROR_TEXT_LIMIT = 2000
UNIVERSAL = "universal"  # the `Exchange.kind` whose body carries step headers and endpoints


class RecordBuilder:
    def __init__(self, tokens: TokenCounter, prices: PriceTable, body_limit: int) -> None:
        self._tokens = tokens
        self._prices = prices
        self._body_limit = body_limit

    def build(self, exchange: Exchange) -> LogRecord:
        """The record of `exchange`; never raises (see the module docstring)."""
        secrets = known_secrets(exchange)
        try:
            return self._record(exchange, secrets, whole=True)
        except Exception as exc:  # whatever broke, the batch must still be written
            reason = f"stored without usage or bodies: building the record failed ({type(exc).__name__})"
            _log.warning("log record %s %s", exchange.id, reason)
            return self._record(exchange, secrets, whole=False, degraded=reason)

    def _record(
        self, exchange: Exchange, secrets: Secrets, whole: bool, degraded: str | None = None
    ) -> LogRecord:
        started = exchange.started
        finished = exchange.finished_at or started
        usage = self._usage(exchange) if whole else None
        request_body = response_body = None
        if whole:
            deadline = time.thread_time() + BUDGET_S
            omitted: list[str] = []
            request_body = self._body(exchange, exchange.body, "request", secrets, deadline, omitted)
            response_body = self._body(
                exchange, exchange.response_body, "response", secrets, deadline, omitted
            )
            degraded = "; ".join(omitted) or None
        step = exchange.step
        return LogRecord(
            id=exchange.id,
            ts=exchange.received_at,
            account=exchange.account,
            gateway=exchange.gateway_slug,
            provider=step.provider.name if step else exchange.provider_name,
            endpoint=secrets.scrub_text(step.route.path if step else exchange.route.path) or "",
            method=exchange.method,
            model=secrets.scrub_text(exchange.facts.model),
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
            cache_source=str(exchange.cache_source),
            cache_saved_ms=exchange.cache_saved_ms,
            rate_limited=exchange.rate_limited,
            semantic_hit=exchange.semantic_hit,
            error=secrets.scrub_text(exchange.error or _upstream_error(exchange)),
            metadata=secrets.scrub_value(exchange.metadata),
            request_headers=secrets.scrub_value(mask_headers(exchange.headers.items())),
            request_body=request_body,
            response_body=response_body,
            step=exchange.step_index if step else None,
            attempts=secrets.scrub_value(
                [asdict(a) for a in exchange.attempts] if len(exchange.attempts) > 1 else []
            ),
            degraded=degraded,
        )

    def _body(
        self,
        exchange: Exchange,
        body: bytes,
        which: str,
        secrets: Secrets,
        deadline: float,
        omitted: list[str],
    ) -> bytes | None:
        """A body as stored: none when payloads are not collected; credentials masked, redacted, cut
        to the limit. None, with the reason added to `omitted`, when that cannot be done."""
        settings = exchange.gateway.settings if exchange.gateway else None
        if not body or not exchange.collect_payload or (settings and not settings.collect_payloads):
            return None
        try:
            if which == "request" and exchange.kind == UNIVERSAL:
                body = mask_universal_body(body, secrets, deadline)
            body = secrets.scrub(body)
            if settings and (settings.redact_paths or settings.redact_patterns):
                rules = redactor(tuple(settings.redact_paths), tuple(settings.redact_patterns))
                return rules.redact(body, deadline, self._body_limit)
        except Unmaskable as exc:
            omitted.append(f"{which} body omitted: its credentials could not be masked: {exc}")
            return None
        except (RedactionFailed, PatternError) as exc:  # PatternError: stored before patterns ran on RE2
            omitted.append(f"{which} body omitted: {exc}")
            return None
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


def known_secrets(exchange: Exchange) -> Secrets:
    """Every credential value the request carried: its headers and query, and those of each step
    (a universal step's own headers, a stored key the gateway injected)."""
    secrets = Secrets()
    secrets.add_headers(exchange.headers.items())
    secrets.add_query(exchange.route.query)
    for step in exchange.steps:
        secrets.add_headers(step.headers.items())
        secrets.add_query(step.route.query)
    return secrets


def _upstream_error(exchange: Exchange) -> str | None:
    """For an upstream 4xx/5xx, the start of its body says what went wrong."""
    if exchange.status < 400 or not exchange.response_body:
        return None
    return exchange.response_body[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace")
