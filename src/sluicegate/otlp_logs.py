"""Request logs pushed as OpenTelemetry log records to an OTLP/HTTP collector, beside the traces.

A sink of the logbook: it gets each batch of records once the batch is stored (so it mirrors what
the database holds: nothing of a gateway that does not collect logs, nothing over a cap). The
records are turned into OTel log records on a worker thread (in slices, so the event loop keeps
running) and queued in the SDK's batch processor, which exports them from a thread of its own;
none of it is on the request path. When the collector is down or slower than the traffic, the
processor's bounded queue (2,048 records) drops the overflow, saying so in the log; the records
stay in the database. Measured here (`python -m bench.log_export`): ~40 µs to make a record and
~105 µs to encode it (the SDK's pure-Python OTLP encoder), so this suits moderate volumes; at the
proxy's full rate it would take about half a core. Off unless `SLUICEGATE_OTLP_LOGS_ENDPOINT` is
set; the exporter also reads the standard `OTEL_EXPORTER_OTLP_LOGS_*` variables (headers, TLS,
compression, timeout).

Each OTel record carries the request's fields as attributes (GenAI and HTTP semantic-convention
names where there are some, `sluicegate.*` for the rest, `sluicegate.metadata.<key>` for its
metadata) and a one-line summary as its body. It carries no headers and no bodies: those may hold
personal data, and stay in the database and the NDJSON export. The error text and metadata were
cleared of credentials when the record was made.
"""

from __future__ import annotations

import asyncio

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from sluicegate import __version__
from sluicegate.providers import operation
from sluicegate.providers.base import Route
from sluicegate.slices import in_slices
from sluicegate.storage.base import LogRecord

EVENT_NAME = "sluicegate.request"
_Value = str | int | float | bool
# Optional record fields sent as `sluicegate.<name>` when set.
_OPTIONAL = (
    "ttfb_ms", "cost_usd", "cached_tokens", "reasoning_tokens", "cache_saved_ms", "step", "error",
    "degraded", "feedback", "score",
)  # fmt: skip


class OtlpLogs:
    def __init__(self, endpoint: str) -> None:
        self._provider = LoggerProvider(
            resource=Resource.create({"service.name": "sluicegate", "service.version": __version__})
        )
        exporter = OTLPLogExporter(endpoint=endpoint.rstrip("/") + "/v1/logs")
        self._provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=500))
        self._logger = self._provider.get_logger("sluicegate", __version__)

    async def written(self, records: list[LogRecord]) -> None:
        """A logbook sink: queue one OTel log record per stored record."""
        await asyncio.to_thread(self._emit, records)

    def _emit(self, records: list[LogRecord]) -> None:
        for record in in_slices(records):
            severity, text = _severity(record.status)
            self._logger.emit(
                timestamp=int(record.ts * 1e9),
                severity_number=severity,
                severity_text=text,
                body=summary(record),
                attributes=attributes(record),
                event_name=EVENT_NAME,
            )

    async def close(self) -> None:
        await asyncio.to_thread(self._provider.shutdown)  # exports what is still queued


def attributes(record: LogRecord) -> dict[str, _Value]:
    """The record's fields as OTel attributes (no headers, no bodies: see the module docstring)."""
    found: dict[str, _Value] = {
        "gen_ai.operation.name": operation(record.provider, Route(record.account, record.endpoint)),
        "gen_ai.provider.name": record.provider,
        "http.request.method": record.method,
        "http.response.status_code": record.status,
        "sluicegate.log_id": record.id,
        "sluicegate.account": record.account,
        "sluicegate.gateway": record.gateway,
        "sluicegate.endpoint": record.endpoint,
        "sluicegate.stream": record.stream,
        "sluicegate.latency_ms": record.latency_ms,
        "sluicegate.cache_status": record.cache_status,  # "": no cache applied, as stored
        "sluicegate.cache_source": record.cache_source,
        "sluicegate.rate_limited": record.rate_limited,
        "sluicegate.semantic_hit": record.semantic_hit,
        "sluicegate.usage_estimated": record.usage_estimated,
    }
    if record.model:
        found["gen_ai.request.model"] = record.model
    if record.tokens_in is not None:
        found["gen_ai.usage.input_tokens"] = record.tokens_in
    if record.tokens_out is not None:
        found["gen_ai.usage.output_tokens"] = record.tokens_out
    if record.status >= 400:
        found["error.type"] = str(record.status)
    for name in _OPTIONAL:
        value = getattr(record, name)
        if value is not None:
            found[f"sluicegate.{name}"] = value
    for key, value in record.metadata.items():
        if isinstance(value, _Value):  # cf-aig-metadata values are flat; anything else is left out
            found[f"sluicegate.metadata.{key}"] = value
    return found


def summary(record: LogRecord) -> str:
    """`POST openai chat/completions gpt-4o-mini 200 123.4ms`: what a log viewer shows first."""
    parts = [record.method, record.provider, record.endpoint, record.model or "-", str(record.status)]
    return " ".join([*parts, f"{record.latency_ms:.1f}ms"])


def _severity(status: int) -> tuple[SeverityNumber, str]:
    if status >= 500:
        return SeverityNumber.ERROR, "ERROR"
    if status >= 400:
        return SeverityNumber.WARN, "WARN"
    return SeverityNumber.INFO, "INFO"
