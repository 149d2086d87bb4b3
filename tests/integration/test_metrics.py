"""`/metrics`: Prometheus text with request counts, latency, tokens, cost and rate-limited counts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx2 as httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.metrics import OTHER
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cli import run_cli

MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "hi"}]


def samples(gateway: RunningGateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(gateway.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def counted(gateway: RunningGateway, requests: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples once `requests` requests are counted (metrics follow the log batches)."""
    deadline = time.monotonic() + 10
    while True:
        found = samples(gateway)
        total = sum(value for (name, _), value in found.items() if name == "sluicegate_requests_total")
        if total >= requests or time.monotonic() > deadline:
            assert total == requests
            return found
        time.sleep(0.02)


def test_metrics_count_requests_tokens_cost_and_refusals(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.http.patch(
        "/api/v1/accounts/local/gateways/default",
        json={"settings": {"rate_limits": [{"limit": 2, "period": 60}]}},
    )
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count me"}]}
    statuses = [
        httpx.post(f"{gateway.url}/v1/local/default/openai/chat/completions", json=body).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    gateway.wait_for_logs(3)
    found = samples(gateway)
    ok = frozenset(
        {
            ("account", "local"),
            ("gateway", "default"),
            ("provider", "openai"),
            ("model", "gpt-4o-mini"),
            ("status", "200"),
            ("cache", ""),  # no cache applied: as the log record's cache_status says
            ("cache_source", ""),
        }
    )
    assert found[("sluicegate_requests_total", ok)] == 2
    assert found[("sluicegate_request_duration_seconds_count", ok)] == 2
    gateway_labels = {("account", "local"), ("gateway", "default")}
    cost = frozenset(gateway_labels | {("provider", "openai"), ("model", "gpt-4o-mini")})
    tokens_in = cost | {("direction", "in")}
    assert found[("sluicegate_tokens_total", tokens_in)] == 2 * 8  # the fake counts 8 prompt tokens
    assert found[("sluicegate_cost_usd_total", cost)] > 0
    assert found[("sluicegate_rate_limited_total", frozenset(gateway_labels))] == 1
    assert found[("sluicegate_rate_limiter_failures_total", frozenset())] == 0
    # The upstream's time to first byte counts only the two that went upstream, not the local 429.
    assert found[("sluicegate_upstream_ttfb_seconds_count", cost)] == 2


def test_a_request_the_gateway_refuses_itself_has_one_cache_status_in_its_record_export_and_metrics(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """No cache applied: `""` in the log record, the export and /metrics' `cache` label alike (the
    label said NONE); one value to join them on."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count me"}]}
    refused = httpx.post(
        f"{gateway.url}/v1/local/default/openai/chat/completions",
        json=body,
        headers={"cf-aig-metadata": '{"a": {"x": 1}}'},
    )
    assert refused.status_code == 400, refused.text
    [record] = gateway.wait_for_logs(1)
    exported = gateway.http.get("/api/v1/accounts/local/gateways/default/logs/export").text
    found = counted(gateway, 1)

    assert record["cache_status"] == ""
    assert '"cache_status":""' in exported
    labels = {dict(labels)["cache"] for name, labels in found if name == "sluicegate_requests_total"}
    assert labels == {""}


def test_client_chosen_names_do_not_grow_the_metrics(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, metrics_models_per_provider=2)
    chat = f"{gateway.url}/v1/local/default/openai/chat/completions"
    for model in ("gpt-4o", "gpt-4o-mini"):  # the two model labels, taken by real models
        httpx.post(chat, json={"model": model, "messages": HI}).raise_for_status()
    sent: list[str] = []

    def made_up_names() -> None:
        for _ in range(10):
            name = uuid.uuid4().hex
            sent.append(name)
            assert httpx.post(f"{gateway.url}/v1/local/gw-{name}/openai/chat/completions").status_code == 404
            assert httpx.post(f"{gateway.url}/v1/a-{name}/default/openai/chat/completions").status_code == 404
            assert httpx.post(f"{gateway.url}/v1/local/default/p-{name}/chat/completions").status_code == 404
            assert httpx.post(f"{gateway.url}/h-{name}.example.com/v1/chat/completions").status_code == 403
            answer = httpx.post(chat, json={"model": f"m-{name}" * 40, "messages": HI})
            assert answer.status_code == 200  # the fake serves any model

    made_up_names()
    first = set(counted(gateway, 2 + len(sent) * 5))
    made_up_names()
    assert set(counted(gateway, 2 + len(sent) * 5)) == first  # values grew, the label sets did not
    text = httpx.get(gateway.url + "/metrics").text
    assert not [name for name in sent if name in text]
    labels = {(name, value) for _, pairs in first for name, value in pairs}
    assert {value for name, value in labels if name == "account"} == {"local", OTHER}
    assert {value for name, value in labels if name == "gateway"} == {"default", OTHER}
    assert {value for name, value in labels if name == "provider"} == {"openai", OTHER}
    assert {value for name, value in labels if name == "model"} == {"", "gpt-4o", "gpt-4o-mini", OTHER}


def test_gateways_of_one_slug_in_two_accounts_are_two_series(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """`local/default` and `acme/default` are two tenants' gateways: each has its own series, told
    apart by `account` (they were one series, `gateway="default"`, summing both tenants)."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    created = run_cli(
        gateway.settings.data_dir, "gateway", "create", "default", "--account", "acme", "--new-account"
    )
    assert created.returncode == 0, created.stderr
    for account, count in (("local", 1), ("acme", 2)):
        with openai.OpenAI(
            base_url=gateway.provider_url("openai", account=account), api_key="sk-test", max_retries=0
        ) as client:
            for _ in range(count):
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "count me"}]
                )
    found = counted(gateway, 3)
    requests = {
        (labels["account"], labels["gateway"], labels["status"]): value
        for (name, pairs), value in found.items()
        if name == "sluicegate_requests_total" and (labels := dict(pairs))
    }
    assert requests == {("local", "default", "200"): 1, ("acme", "default", "200"): 2}
    for account, count in (("local", 1), ("acme", 2)):
        series = {("account", account), ("gateway", "default"), ("provider", "openai"), ("model", MODEL)}
        assert found[("sluicegate_tokens_total", frozenset(series | {("direction", "in")}))] == 8 * count


def test_metrics_need_an_unrestricted_read_token_when_configured(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    gateway = make_gateway(metrics_require_token=True)

    def token(scopes: list[str], gateways: list[str] | None = None) -> str:
        body = {"name": "prometheus", "scopes": scopes, "gateways": gateways}
        secret: str = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
        return secret

    def scrape(secret: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.get(gateway.url + "/metrics", headers=headers)

    refused = scrape(None)
    assert refused.status_code == 401
    assert "Bearer" in refused.json()["error"]["message"]
    assert scrape("sg_not-a-token").status_code == 401
    assert scrape(token(["run"])).json()["error"]["scope"] == "read"
    limited = scrape(token(["read"], ["default"]))
    assert limited.status_code == 403
    assert "not limited to gateways" in limited.json()["error"]["message"]
    allowed = scrape(token(["read"]))
    assert allowed.status_code == 200
    assert "sluicegate_requests" in allowed.text


def test_upstream_ttfb_counts_only_requests_that_reached_an_upstream(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """A universal request refused locally (400) and a cache hit never reached the upstream."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "time me"}]}
    url = f"{gateway.url}/v1/local/default"
    assert httpx.post(f"{url}/openai/chat/completions", json=body).status_code == 200
    assert httpx.post(f"{url}/openai/chat/completions", json=body).headers["cf-aig-cache-status"] == "HIT"
    step = {"provider": "openai", "endpoint": "chat/completions", "query": body, "bogus": 1}
    assert httpx.post(url, json=[step]).status_code == 400
    found = counted(gateway, 3)
    ttfb = {
        labels: value
        for (name, labels), value in found.items()
        if name == "sluicegate_upstream_ttfb_seconds_count" and value
    }
    assert list(ttfb.values()) == [1]
