"""OpenTelemetry spans, one per request, following the GenAI semantic conventions.

The outcome step hands each finished request over; spans are made from them in batches a moment
later (with each request's own start and end times), so the request path only appends to a list.
The SDK's batch processor exports them over OTLP/HTTP from a thread of its own. Off unless
`SLUICEGATE_OTLP_ENDPOINT` is set. A span's operation name is its provider's (`Provider.operation`).
"""

from __future__ import annotations

import asyncio

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from sluicegate import __version__
from sluicegate.exchange import Exchange
from sluicegate.naming import provider_and_endpoint
from sluicegate.outcome import Outcome
from sluicegate.providers import operation
from sluicegate.records import known_secrets, upstream_error

# Seconds between a request's end and its span's making: spans are made in batches.
BATCH_DELAY_S = 0.2


class Tracing:
    def __init__(self, endpoint: str) -> None:
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": "sluicegate", "service.version": __version__})
        )
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        self._provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._tracer = self._provider.get_tracer("sluicegate", __version__)
        self._pending: list[tuple[Exchange, Outcome]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def observe(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: queue one CLIENT span for the finished request."""
        self._pending.append((exchange, outcome))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_DELAY_S, self._make_spans)

    def _make_spans(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, []
        for exchange, outcome in pending:
            self._span(exchange, outcome)

    def _span(self, exchange: Exchange, outcome: Outcome) -> None:
        request, step = exchange.request, exchange.step
        start = int(request.received_at * 1e9)
        name = (
            step.provider.operation(step.route) if step else operation(request.provider_name, request.route)
        )
        model = exchange.facts.model or outcome.model
        provider, _ = provider_and_endpoint(exchange)
        attributes: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": name,
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,  # the attribute's name before semconv 1.37
            "http.response.status_code": exchange.response.status,
            "sluicegate.account": request.account,
            "sluicegate.gateway": request.gateway_slug,
            "sluicegate.log_id": request.id,
            "sluicegate.cache_status": str(exchange.cache.status),  # "": no cache applied, as logged
            "sluicegate.cache_source": str(exchange.cache.source),
            "sluicegate.stream": exchange.response.streamed,
        }
        if model:
            attributes["gen_ai.request.model"] = model
        if outcome.usage is not None:
            attributes["gen_ai.usage.input_tokens"] = outcome.usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = outcome.usage.output_tokens
        if outcome.cost_usd is not None:
            attributes["sluicegate.cost_usd"] = outcome.cost_usd
        span = self._tracer.start_span(
            f"{name} {model}" if model else name,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes=attributes,
        )
        error = exchange.response.error or upstream_error(exchange)
        if error:  # an upstream may echo a key: spans carry no credential either
            error = known_secrets(exchange).scrub_text(error)
        if exchange.response.status >= 400 or error:
            span.set_attribute(
                "error.type", str(exchange.response.status) if exchange.response.status >= 400 else "stream"
            )
            span.set_status(Status(StatusCode.ERROR, (error or "")[:200]))
        latency_s = (exchange.timings.finished_at or request.started) - request.started
        span.end(end_time=start + int(latency_s * 1e9))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._make_spans()
        await asyncio.to_thread(self._provider.shutdown)  # exports what is still queued
