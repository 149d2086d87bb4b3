"""OpenTelemetry spans, one per request, following the GenAI semantic conventions.

Spans are made from each batch of log records with the request's own start and end times, so
tracing adds nothing to the request path; the SDK's batch processor exports them over OTLP/HTTP
from a thread of its own. Off unless `SLUICEGATE_OTLP_ENDPOINT` is set.
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
from sluicegate.storage.base import LogRecord

# https://opentelemetry.io/docs/specs/semconv/gen-ai/ — operation names by endpoint
_OPERATIONS = (
    ("embeddings", "embeddings"),
    ("embedContent", "embeddings"),
    ("embed", "embeddings"),
    ("chat/completions", "chat"),
    ("messages", "chat"),
    ("generateContent", "generate_content"),
    ("responses", "chat"),
    ("completions", "text_completion"),
)


def operation(endpoint: str) -> str:
    return next((name for marker, name in _OPERATIONS if marker in endpoint), "request")


class Tracing:
    def __init__(self, endpoint: str) -> None:
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": "sluicegate", "service.version": __version__})
        )
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        self._provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._tracer = self._provider.get_tracer("sluicegate", __version__)

    async def record(self, finished: list[tuple[Exchange, LogRecord]]) -> None:
        """A logbook hook: one CLIENT span per finished request."""
        for _, record in finished:
            start = int(record.ts * 1e9)
            name = operation(record.endpoint)
            attributes: dict[str, str | int | float | bool] = {
                "gen_ai.operation.name": name,
                "gen_ai.provider.name": record.provider,
                "gen_ai.system": record.provider,  # the attribute's name before semconv 1.37
                "http.response.status_code": record.status,
                "sluicegate.gateway": record.gateway,
                "sluicegate.log_id": record.id,
                "sluicegate.cache_status": record.cache_status or "NONE",
                "sluicegate.cache_source": record.cache_source,
                "sluicegate.stream": record.stream,
            }
            if record.model:
                attributes["gen_ai.request.model"] = record.model
            if record.tokens_in is not None:
                attributes["gen_ai.usage.input_tokens"] = record.tokens_in
            if record.tokens_out is not None:
                attributes["gen_ai.usage.output_tokens"] = record.tokens_out
            if record.cost_usd is not None:
                attributes["sluicegate.cost_usd"] = record.cost_usd
            span = self._tracer.start_span(
                f"{name} {record.model}" if record.model else name,
                kind=SpanKind.CLIENT,
                start_time=start,
                attributes=attributes,
            )
            if record.status >= 400 or record.error:
                attributes_error = str(record.status) if record.status >= 400 else "stream"
                span.set_attribute("error.type", attributes_error)
                span.set_status(Status(StatusCode.ERROR, (record.error or "")[:200]))
            span.end(end_time=start + int(record.latency_ms * 1e6))

    async def close(self) -> None:
        await asyncio.to_thread(self._provider.shutdown)  # exports what is still queued
