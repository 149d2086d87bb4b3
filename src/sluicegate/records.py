"""Turning a finished exchange and its outcome into a log record: masked credentials, bounded bodies.

Usage and cost come from the outcome (measured once, see `outcome/`). Redacting bodies is CPU
work, so the logbook runs this in batches on a worker thread after the responses have gone out;
nothing here is on the request path. A record that cannot be built whole is stored without what
failed, with `degraded` saying what is missing: one odd request never costs the records of the
others in its batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from sluicegate.credentials import Secrets, Unmaskable, mask_headers, mask_universal_body
from sluicegate.exchange import Exchange
from sluicegate.exchange_records import ResponseRecord
from sluicegate.naming import provider_and_endpoint
from sluicegate.outcome import Outcome
from sluicegate.pipeline.dynamic import route_log_entries
from sluicegate.redaction import BUDGET_S, PatternError, RedactionFailed, redactor
from sluicegate.reserved import RESERVED_METADATA_KEYS
from sluicegate.storage.base import LogRecord
from sluicegate.utf8 import whole_characters

_log = logging.getLogger(__name__)
_ERROR_TEXT_LIMIT = 2000
UNIVERSAL = "universal"  # the `IncomingRequest.kind` whose body carries step headers and endpoints
# Metadata: where the cost the log shows came from, when not the price table: "provider" (the
# answer stated it) or "custom" (the request's `cf-aig-custom-cost`; Cloudflare's log `custom_cost`).
COST_SOURCE = "cost_source"


class RecordBuilder:
    def __init__(self, body_limit: int) -> None:
        self._body_limit = body_limit

    def cheap(self, exchange: Exchange) -> bool:
        """Whether building the record is cheap enough for the event loop: no redaction rules to
        run and no universal body to parse (masking known credentials is a few byte replaces)."""
        settings = exchange.gateway.settings if exchange.gateway else None
        redacts = settings is not None and bool(settings.redact_paths or settings.redact_patterns)
        return not redacts and exchange.request.kind != UNIVERSAL

    def build(self, exchange: Exchange, outcome: Outcome) -> LogRecord:
        """The record of `exchange`; never raises (see the module docstring)."""
        secrets = known_secrets(exchange)
        try:
            return self._record(exchange, outcome, secrets, whole=True)
        except Exception as exc:  # whatever broke, the batch must still be written
            reason = f"stored without bodies: building the record failed ({type(exc).__name__})"
            _log.warning("log record %s %s", exchange.request.id, reason)
            return self._record(exchange, outcome, secrets, whole=False, degraded=reason)

    def _record(
        self, exchange: Exchange, outcome: Outcome, secrets: Secrets, whole: bool, degraded: str | None = None
    ) -> LogRecord:
        request, response, timings = exchange.request, exchange.response, exchange.timings
        cache = exchange.cache
        started = request.started
        finished = timings.finished_at or started
        usage = outcome.usage
        request_body = response_body = None
        request_size = response_size = None
        if whole:
            # The CPU clock is a system call (slow on some VMs): read only for work it bounds.
            deadline = 0.0 if self.cheap(exchange) else time.thread_time() + BUDGET_S
            omitted: list[str] = []
            request_body, request_size = self._body(
                exchange, exchange.plan.body, "request", secrets, deadline, omitted
            )
            response_body, response_size = self._body(
                exchange, response.body, "response", secrets, deadline, omitted
            )
            degraded = "; ".join(omitted) or None
        step = exchange.step
        judged = cache.semantic
        provider, endpoint = provider_and_endpoint(exchange)
        return LogRecord(
            id=request.id,
            ts=request.received_at,
            account=request.account,
            gateway=request.gateway_slug,
            provider=provider,
            endpoint=secrets.scrub_text(endpoint) or "",
            method=request.method,
            # The request's model, else the one its answer named (a Replicate prediction read by id).
            model=secrets.scrub_text(exchange.facts.model or outcome.model),
            # Asked for, or answered as, a stream: a streaming request refused before its first byte too.
            stream=response.streamed or exchange.facts.stream,
            status=response.status,
            latency_ms=(finished - started) * 1000,
            ttfb_ms=(timings.first_byte_at - started) * 1000 if timings.first_byte_at else None,
            tokens_in=usage.input_tokens if usage else None,
            tokens_out=usage.output_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            reasoning_tokens=usage.reasoning_tokens if usage else None,
            cache_write_tokens=usage.cache_write_tokens if usage else None,
            usage_estimated=usage.estimated if usage else False,
            cost_usd=outcome.cost_usd,
            unpriced=outcome.unpriced,
            cache_status=str(cache.status),
            cache_source=str(cache.source),
            cache_saved_ms=cache.saved_ms,
            rate_limited=exchange.limits.rate_limited,
            semantic_hit=cache.semantic_hit,
            error=secrets.scrub_text(response.error or upstream_error(exchange)),
            # A routed request's route and path taken; the client's own entries of those names win.
            metadata=secrets.scrub_value(
                {
                    **exchange.options.metadata,
                    **step_metadata(exchange),
                    **route_log_entries(exchange),
                    **_counted_entries(outcome),
                    **_cost_entries(outcome),
                }
            ),
            request_headers=secrets.scrub_headers(mask_headers(request.headers.items())),
            request_body=request_body,
            response_body=response_body,
            step=exchange.plan.step_index if step else None,
            attempts=secrets.scrub_value(
                [asdict(a) for a in response.attempts] if _attempts_said(response) else []
            ),
            degraded=degraded,
            token_id=exchange.token_id,
            key_name=step.key_name if step else None,
            semantic_similarity=judged.similarity if judged else None,
            semantic_verified=judged.verified if judged else None,
            semantic_score=judged.score if judged else None,
            saved_usd=outcome.saved_usd,
            shadow_of=cache.shadow_of,
            shadow_agreed=cache.shadow_agreed,
            request_size=request_size,
            response_size=response_size,
            upstream_status=response.upstream_status,
        )

    def _body(
        self,
        exchange: Exchange,
        body: bytes,
        which: str,
        secrets: Secrets,
        deadline: float,
        omitted: list[str],
    ) -> tuple[bytes | None, int | None]:
        """A body as stored: none when payloads are not collected; credentials masked, redacted, cut
        to the limit; and its whole size before the cut. None, with the reason added to `omitted`,
        when that cannot be done."""
        settings = exchange.gateway.settings if exchange.gateway else None
        if not body or not exchange.options.collect_payload or (settings and not settings.collect_payloads):
            return None, None
        try:
            if which == "request" and exchange.request.kind == UNIVERSAL:
                body = mask_universal_body(body, secrets, deadline)
            body = secrets.scrub(body)
            if settings and (settings.redact_paths or settings.redact_patterns):
                rules = redactor(tuple(settings.redact_paths), tuple(settings.redact_patterns))
                return rules.redact(body, deadline, self._body_limit)
        except Unmaskable as exc:
            omitted.append(f"{which} body omitted: its credentials could not be masked: {exc}")
            return None, None
        except (RedactionFailed, PatternError) as exc:  # PatternError: stored before patterns ran on RE2
            omitted.append(f"{which} body omitted: {exc}")
            return None, None
        return whole_characters(body, self._body_limit), len(body)


def known_secrets(exchange: Exchange) -> Secrets:
    """Every credential value the request carried: its headers and query, and those of each step
    (a universal step's own headers, a stored key or custom provider headers the gateway added)."""
    secrets = Secrets()
    secrets.add_headers(exchange.request.headers.items())
    secrets.add_query(exchange.request.route.query)
    for step in exchange.plan.steps:
        secrets.add_headers(step.headers.items())
        secrets.add_query(step.route.query)
        step.add_stored_to(secrets)
    for value in exchange.guardrails.restored:
        secrets.add_value(value)
    return secrets


def upstream_error(exchange: Exchange) -> str | None:
    """For an upstream 4xx/5xx, the start of its body says what went wrong."""
    if exchange.response.status < 400 or not exchange.response.body:
        return None
    return exchange.response.body[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace")


def _cost_entries(outcome: Outcome) -> dict[str, str]:
    """Where `cost_usd` came from when not the price table: the provider's answer stated it, or the
    request's custom cost priced it (a key reserved to the gateway: no client's metadata can claim it)."""
    if outcome.cost_custom:
        return {COST_SOURCE: "custom"}
    return {COST_SOURCE: "provider"} if outcome.cost_stated else {}


def step_metadata(exchange: Exchange) -> dict[str, Any]:
    """The record's step's own `cf-aig-metadata` (a universal step's), laid over the request's: its
    entries win over the request's, a token's own entries still win over both (pipeline/auth.py)."""
    step = exchange.step
    own = step.options.metadata if step is not None and step.options is not None else None
    if not own:
        return {}
    token = exchange.token.metadata if exchange.token is not None else {}
    return {**own, **{key: value for key, value in token.items() if key not in RESERVED_METADATA_KEYS}}


def _counted_entries(outcome: Outcome) -> dict[str, str]:
    """A job whose usage an earlier request counted (outcome/outcomes.py): which one, and what job."""
    if outcome.counted_in is None or outcome.usage is None:
        return {}
    return {"usage_counted_in": outcome.counted_in, "usage_job": outcome.usage.job}


def _attempts_said(response: ResponseRecord) -> bool:
    """Whether the record lists its tries: when there were several, or when no try's answer is the
    request's (a deadline passed, the last try got no answer): one answered try is the record."""
    return len(response.attempts) > 1 or (bool(response.attempts) and response.upstream_status is None)
