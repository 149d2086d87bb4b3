"""Request logs pushed as OpenTelemetry log records over OTLP/HTTP: a real collector on loopback
decodes each `ExportLogsServiceRequest` and the records are checked field by field, and for secrets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

PROVIDER_KEY = "sk-otlp-provider-key-0123456789abcdef"
CHAT = "/v1/local/{gateway}/openai/chat/completions"


class LogCollector:
    """A fake OTLP/HTTP collector: a real server that decodes the log exports it receives and keeps
    their raw bytes (to search them for secrets)."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.resources: list[Any] = []
        self.raw: list[bytes] = []
        self.content_types: set[str] = set()
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        async def logs(request: web.Request) -> web.Response:
            body = await request.read()
            export = ExportLogsServiceRequest()
            export.ParseFromString(body)
            with self._lock:
                self.raw.append(body)
                self.content_types.add(request.content_type)
                for resource in export.resource_logs:
                    self.resources.append(resource.resource)
                    for scope in resource.scope_logs:
                        self.records.extend(scope.log_records)
            return web.Response(body=b"", content_type="application/x-protobuf")

        app = web.Application()
        app.router.add_post("/v1/logs", logs)
        return app

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.records)} of {count} log records reached the collector"
            )
            time.sleep(0.05)


def attributes(record: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in record.attributes:
        value = kv.value
        found[kv.key] = getattr(value, value.WhichOneof("value"))
    return found


def post(gw: RunningGateway, model: str, gateway: str = "default", **headers: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "log me elsewhere"}]}
    auth = {"Authorization": f"Bearer {PROVIDER_KEY}"}
    return httpx.post(gw.url + CHAT.format(gateway=gateway), json=body, headers=auth | headers, timeout=10)


def test_stored_records_arrive_as_otel_log_records_without_secrets(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    collector = LogCollector()
    with ServerThread(collector.app()) as otlp:
        gw = make_gateway(upstreams={"openai": fake.base_url}, otlp_logs_endpoint=otlp.url)
        created = gw.http.post(
            "/api/v1/accounts/local/gateways", json={"name": "quiet", "settings": {"collect_logs": False}}
        )
        assert created.status_code == 201
        unlogged = post(gw, "gpt-4o", gateway="quiet")  # a gateway that keeps no logs exports none
        # The key also turns up where a careless client puts it: metadata and an upstream error.
        metadata = json.dumps({"user": "ana", "leak": PROVIDER_KEY})
        ok = post(gw, "gpt-4o-mini", **{"cf-aig-metadata": metadata})
        failed = post(gw, "error-500")
        assert (unlogged.status_code, ok.status_code, failed.status_code) == (200, 200, 500)
        collector.wait_for(2)
        log = f"/api/v1/accounts/local/gateways/default/logs/{ok.headers['cf-aig-log-id']}"
        stored = gw.http.get(log).json()
        gw.server.stop()  # exports whatever is still queued

    by_id = {attributes(record)["sluicegate.log_id"]: record for record in collector.records}
    assert set(by_id) == {ok.headers["cf-aig-log-id"], failed.headers["cf-aig-log-id"]}
    record = by_id[ok.headers["cf-aig-log-id"]]
    seen = attributes(record)
    usage = ok.json()["usage"]
    assert seen == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "sluicegate.log_id": ok.headers["cf-aig-log-id"],
        "sluicegate.account": "local",
        "sluicegate.gateway": "default",
        "sluicegate.endpoint": "chat/completions",
        "sluicegate.stream": False,
        "sluicegate.latency_ms": seen["sluicegate.latency_ms"],
        "sluicegate.ttfb_ms": seen["sluicegate.ttfb_ms"],
        "sluicegate.cost_usd": seen["sluicegate.cost_usd"],
        "sluicegate.cached_tokens": 0,
        "sluicegate.reasoning_tokens": 0,
        "sluicegate.step": 0,
        "sluicegate.cache_status": "",  # no cache applied, as the record says
        "sluicegate.cache_source": "",
        "sluicegate.rate_limited": False,
        "sluicegate.semantic_hit": False,
        "sluicegate.usage_estimated": False,
        "sluicegate.metadata.user": "ana",
        "sluicegate.metadata.leak": seen["sluicegate.metadata.leak"],
    }
    assert seen["sluicegate.latency_ms"] > 0
    assert seen["sluicegate.cost_usd"] > 0
    assert record.event_name == "sluicegate.request"
    assert (record.severity_number, record.severity_text) == (9, "INFO")  # SEVERITY_NUMBER_INFO
    assert record.body.string_value.startswith("POST openai chat/completions gpt-4o-mini 200 ")
    assert record.time_unix_nano == int(stored["ts"] * 1e9)
    error = by_id[failed.headers["cf-aig-log-id"]]
    assert (error.severity_number, error.severity_text) == (17, "ERROR")  # SEVERITY_NUMBER_ERROR
    assert attributes(error)["error.type"] == "500"
    assert attributes(error)["sluicegate.error"]  # the upstream's error text, as stored
    service = {kv.key: kv.value.string_value for kv in collector.resources[0].attributes}
    assert service["service.name"] == "sluicegate"
    assert collector.content_types == {"application/x-protobuf"}
    # No credential anywhere in what left the gateway: not the key, not its header.
    everything = b"".join(collector.raw)
    assert PROVIDER_KEY.encode() not in everything
    assert b"Bearer" not in everything
    assert b"log me elsewhere" not in everything  # nor bodies
