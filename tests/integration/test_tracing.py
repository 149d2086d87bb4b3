"""OpenTelemetry: one span per request, GenAI attributes, exported over OTLP/HTTP to a collector."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread


class Collector:
    """A fake OTLP/HTTP collector: a real server that decodes the protobuf exports it receives."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        async def traces(request: web.Request) -> web.Response:
            export = ExportTraceServiceRequest()
            export.ParseFromString(await request.read())
            with self._lock:
                for resource in export.resource_spans:
                    for scope in resource.scope_spans:
                        self.spans.extend(scope.spans)
            return web.Response(body=b"", content_type="application/x-protobuf")

        app = web.Application()
        app.router.add_post("/v1/traces", traces)
        return app


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        found[kv.key] = value.string_value or value.int_value or value.double_value or value.bool_value
    return found


def test_each_request_is_a_genai_span(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> None:
    collector = Collector()
    with ServerThread(collector.app()) as otlp:
        gateway = make_gateway(upstreams={"openai": fake.base_url}, otlp_endpoint=otlp.url)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "trace me"}]}
        ok = httpx.post(f"{gateway.url}/v1/local/default/openai/chat/completions", json=body)
        failed = httpx.post(
            f"{gateway.url}/v1/local/default/openai/chat/completions", json={**body, "model": "error-500"}
        )
        deadline = time.monotonic() + 15
        while len(collector.spans) < 2:
            assert time.monotonic() < deadline, "no spans reached the collector"
            time.sleep(0.05)
        gateway.server.stop()
    by_log_id = {attributes(span)["sluicegate.log_id"]: span for span in collector.spans}
    span = by_log_id[ok.headers["cf-aig-log-id"]]
    seen = attributes(span)
    assert span.name == "chat gpt-4o-mini"
    assert seen["gen_ai.operation.name"] == "chat"
    assert seen["gen_ai.provider.name"] == "openai"
    assert (seen["sluicegate.account"], seen["sluicegate.gateway"]) == ("local", "default")
    assert seen["gen_ai.request.model"] == "gpt-4o-mini"
    assert seen["gen_ai.usage.input_tokens"] == ok.json()["usage"]["prompt_tokens"]
    assert seen["gen_ai.usage.output_tokens"] == ok.json()["usage"]["completion_tokens"]
    assert span.end_time_unix_nano > span.start_time_unix_nano
    error_span = by_log_id[failed.headers["cf-aig-log-id"]]
    assert attributes(error_span)["error.type"] == "500"
    assert error_span.status.code == 2  # STATUS_CODE_ERROR
