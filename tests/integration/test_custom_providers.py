"""An account's custom providers: created through Cloudflare's API (the official `cloudflare` SDK)
or the native one, reached as `custom-{slug}` by the `openai` SDK, their headers sent upstream
and never shown. A real gateway on loopback, the fake OpenAI as the custom server; every test of
the module runs on embedded and on scaled storage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from cloudflare import BadRequestError, Cloudflare, ConflictError, NotFoundError, PermissionDeniedError
from openai import OpenAI

from tests.conftest import ADMIN_TOKEN, RunningGateway, stored_bytes
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cli import run_cli, table_rows
from tests.integration.test_cloudflare_api import error_of, token

ACCOUNT = "local"
CF = "/client/v4/accounts/local/ai-gateway/custom-providers"
NATIVE = "/api/v1/accounts/local/custom-providers"
UPSTREAM_KEY = "sk-custom-upstream-0f1e2d3c4b5a6978"
TENANT = "tenant-secret-a1b2c3d4e5f6"
HEADERS = f'{{"Authorization": "Bearer {UPSTREAM_KEY}", "X-Tenant-Key": "{TENANT}"}}'
USER: list[Any] = [{"role": "user", "content": "hello custom world"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


def loopback(fake: FakeOpenAI) -> str:
    """The fake's host:port, which the tests list in allowed_hosts (http and ports need that)."""
    return fake.url.removeprefix("http://")


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(allowed_hosts=[loopback(fake)], secret_key="master-key-for-tests")


@pytest.fixture
def cf(gw: RunningGateway) -> Iterator[Cloudflare]:
    with Cloudflare(api_token=ADMIN_TOKEN, base_url=gw.url + "/client/v4", max_retries=0) as client:
        yield client


def ask(gw: RunningGateway, provider: str, content: str = "hello custom world") -> Any:
    """A chat through `provider`'s endpoint with the `openai` SDK: the raw response (`.parse()`)."""
    with OpenAI(base_url=gw.provider_url(provider), api_key="sk-client-own-key", max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
        )


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `check` until it holds (another replica reads its cache again within a second)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def test_a_custom_provider_created_with_the_sdk_is_reached_as_custom_slug_with_its_headers(
    gw: RunningGateway, fake: FakeOpenAI, cf: Cloudflare
) -> None:
    created = cf.ai_gateway.custom_providers.create(
        account_id=ACCOUNT,
        base_url=fake.base_url,
        name="Team vLLM",
        slug="vllm",
        headers=HEADERS,
        description="our own models",
        position=2,
    )
    assert (created.slug, created.name, created.base_url, created.enable) == (
        "vllm",
        "Team vLLM",
        fake.base_url,
        True,
    )
    assert created.headers == '{"Authorization":"[redacted]","X-Tenant-Key":"[redacted]"}'

    raw = ask(gw, "custom-vllm")
    answer = raw.parse()
    assert answer.choices[0].message.content == "echo: hello custom world"
    sent = fake.requests[-1]
    assert (sent.path, sent.json["model"]) == ("/v1/chat/completions", "gpt-4o-mini")
    # The stored headers replace the request's own of the same name: they are the provider's.
    assert (sent.header("authorization"), sent.header("x-tenant-key")) == (f"Bearer {UPSTREAM_KEY}", TENANT)

    with OpenAI(base_url=gw.provider_url("compat"), api_key="sk-client-own-key", max_retries=0) as compat:
        compat.chat.completions.create(model="custom-vllm/served-model", messages=USER)
    assert (fake.requests[-1].json["model"], fake.requests[-1].header("x-tenant-key")) == (
        "served-model",
        TENANT,
    )
    universal = httpx.post(
        f"{gw.url}/v1/local/default",
        json=[{"provider": "custom-vllm", "endpoint": "chat/completions", "headers": {}, "query": {
            "model": "gpt-4o", "messages": USER}}],
    )  # fmt: skip
    assert universal.status_code == 200, universal.text
    assert fake.requests[-1].header("authorization") == f"Bearer {UPSTREAM_KEY}"

    # Logged and priced as any OpenAI-compatible server; a prompt quoting a stored value is masked.
    ask(gw, "custom-vllm", f"is {TENANT} leaked?")
    records = gw.wait_for_logs(4)
    assert {r["provider"] for r in records} == {"custom-vllm"}
    first = next(r for r in records if r["id"] == raw.headers["cf-aig-log-id"])
    assert (first["tokens_in"], first["tokens_out"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )
    assert first["cost_usd"] is not None
    assert first["cost_usd"] > 0
    sdk = cf.ai_gateway.custom_providers.with_raw_response
    shown = [
        sdk.get(created.id, account_id=ACCOUNT).http_response.text,
        sdk.list(account_id=ACCOUNT).http_response.text,
        gw.http.get(NATIVE).text,
        gw.http.get(f"{NATIVE}/vllm").text,
        gw.http.get("/api/v1/accounts/local/audit").text,
        *(gw.http.get(f"/api/v1/accounts/local/gateways/default/logs/{r['id']}").text for r in records),
        *(gw.http.get(f"/client/v4/accounts/local/ai-gateway/gateways/default/logs/{r['id']}/response").text
          for r in records),
    ]  # fmt: skip
    for text in shown:
        assert UPSTREAM_KEY not in text
        assert TENANT not in text
    assert "X-Tenant-Key" in shown[2]
    assert UPSTREAM_KEY.encode() not in stored_bytes(gw.settings)
    assert TENANT.encode() not in stored_bytes(gw.settings)


def test_the_sdk_lists_gets_updates_disables_and_deletes_custom_providers(
    gw: RunningGateway, fake: FakeOpenAI, cf: Cloudflare
) -> None:
    for slug, position, beta in (("zeta", 0, False), ("alpha", 5, True), ("mid", 1, False)):
        cf.ai_gateway.custom_providers.create(
            account_id=ACCOUNT, base_url=fake.base_url, name=slug.title(), slug=slug, position=position,
            beta=beta, headers=f'{{"X-Tenant-Key": "{TENANT}"}}',
        )  # fmt: skip
    listed = list(cf.ai_gateway.custom_providers.list(account_id=ACCOUNT, per_page=2))  # two pages
    assert [p.slug for p in listed] == ["zeta", "mid", "alpha"]  # by position, then name
    assert [p.slug for p in cf.ai_gateway.custom_providers.list(account_id=ACCOUNT, beta=True)] == ["alpha"]
    assert [p.slug for p in cf.ai_gateway.custom_providers.list(account_id=ACCOUNT, search="MI")] == ["mid"]
    page = cf.ai_gateway.custom_providers.with_raw_response.list(account_id=ACCOUNT, per_page=2, page=2)
    assert page.http_response.json()["result_info"] == {
        "page": 2,
        "per_page": 2,
        "count": 1,
        "total_count": 3,
    }
    mid = cf.ai_gateway.custom_providers.get(listed[1].id, account_id=ACCOUNT)
    assert (mid.slug, mid.name, mid.position) == ("mid", "Mid", 1)

    # The SDK has no update method: Cloudflare's PUT (and PATCH) through the client's own transport.
    path = f"/accounts/{ACCOUNT}/ai-gateway/custom-providers/{mid.id}"
    written_back = cf.put(
        path, cast_to=object, body={"headers": mid.headers, "enable": False, "name": "Middle"}
    )
    assert isinstance(written_back, dict)
    assert (written_back["result"]["enable"], written_back["result"]["name"]) == (False, "Middle")
    disabled = httpx.post(
        gw.provider_url("custom-mid") + "/chat/completions", json={"model": "m", "messages": USER}
    )
    assert disabled.status_code == 403
    assert disabled.json()["error"]["message"].startswith(
        "the custom provider 'custom-mid' is disabled (enable: false)"
    )
    cf.patch(path, cast_to=object, body={"enable": True})
    ask(gw, "custom-mid")
    # Sent back as read, the masked value kept the stored one.
    assert fake.requests[-1].header("x-tenant-key") == TENANT

    deleted = cf.ai_gateway.custom_providers.delete(mid.id, account_id=ACCOUNT)
    assert deleted.slug == "mid"
    with pytest.raises(NotFoundError):
        cf.ai_gateway.custom_providers.get(mid.id, account_id=ACCOUNT)
    gone = httpx.post(
        gw.provider_url("custom-mid") + "/chat/completions", json={"model": "m", "messages": USER}
    )
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "unknown_provider")
    assert "custom-zeta" in gone.json()["error"]["providers"]


def test_what_a_custom_provider_may_not_be_is_refused_saying_why(
    gw: RunningGateway, fake: FakeOpenAI, cf: Cloudflare, make_gateway: Callable[..., RunningGateway]
) -> None:
    def refused(base_url: str, error: type[Exception] = BadRequestError, **fields: Any) -> dict[str, Any]:
        with pytest.raises(error) as failure:
            cf.ai_gateway.custom_providers.create(
                account_id=ACCOUNT, base_url=base_url, name="x", slug=fields.pop("slug", "x"), **fields
            )
        return error_of(failure.value)  # type: ignore[arg-type]

    plain = refused("http://llm.example.com/v1")
    assert plain["source"] == {"pointer": "/base_url"}
    assert "plain http is only allowed to a host listed in SLUICEGATE_ALLOWED_HOSTS" in plain["message"]
    assert "IP addresses and ports" in refused("https://10.0.0.5/v1")["message"]
    assert "IP addresses and ports" in refused("https://llm.example.com:8443/v1")["message"]
    assert "send them in `headers`" in refused("https://user:pw@llm.example.com/v1")["message"]
    assert refused(fake.base_url, headers='["not", "an object"]')["source"] == {"pointer": "/headers"}
    assert (
        "'Content-Length' is the gateway's own"
        in refused(fake.base_url, headers='{"Content-Length": "1"}')["message"]
    )
    assert "not a valid HTTP header name" in refused(fake.base_url, headers='{"bad name": "v"}')["message"]
    assert refused(fake.base_url, slug="Not A Slug")["source"] == {"pointer": "/slug"}
    https = cf.ai_gateway.custom_providers.create(
        account_id=ACCOUNT, base_url="https://llm.example.com/v1", name="Public", slug="public"
    )
    assert https.base_url == "https://llm.example.com/v1"
    taken = refused(fake.base_url, ConflictError, slug="public")
    assert (taken["code"], taken["message"]) == (
        1003,
        "a custom provider with slug 'public' already exists in account 'local'",
    )

    reader = token(gw, "read")
    limited = token(gw, "admin", gateways=["default"])
    with Cloudflare(api_token=reader, base_url=gw.url + "/client/v4", max_retries=0) as as_reader:
        assert [p.slug for p in as_reader.ai_gateway.custom_providers.list(account_id=ACCOUNT)] == ["public"]
        with pytest.raises(PermissionDeniedError) as no_admin:
            as_reader.ai_gateway.custom_providers.delete(https.id, account_id=ACCOUNT)
    assert (error_of(no_admin.value)["code"], error_of(no_admin.value)["message"]) == (
        10000,
        "this token lacks the 'admin' scope",
    )
    denied = httpx.get(gw.url + CF, headers={"Authorization": f"Bearer {limited}"})
    assert (denied.status_code, error_of(denied)["code"]) == (403, 10000)

    # Headers need the master key that seals them.
    keyless = make_gateway(allowed_hosts=[loopback(fake)])
    response = keyless.http.post(
        CF, json={"base_url": fake.base_url, "name": "k", "slug": "k", "headers": HEADERS}
    )
    assert response.status_code == 409
    assert "SLUICEGATE_SECRET_KEY" in error_of(response)["message"]


def test_the_native_api_manages_them_and_a_configured_provider_keeps_its_name(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gw = make_gateway(
        allowed_hosts=[loopback(fake)],
        secret_key="master-key-for-tests",
        custom_providers={"custom-shared": fake.base_url},
    )
    body = {"name": "Ours", "slug": "ours", "base_url": fake.base_url, "headers": {"X-Tenant-Key": TENANT}}
    created = gw.http.post(NATIVE, json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert (shown["provider"], shown["header_names"], shown["enable"]) == (
        "custom-ours",
        ["X-Tenant-Key"],
        True,
    )
    assert TENANT not in created.text
    renamed = gw.http.patch(f"{NATIVE}/{shown['id']}", json={"slug": "renamed", "headers": {"X-Other": "v"}})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["provider"], renamed.json()["header_names"]) == ("custom-renamed", ["X-Other"])
    ask(gw, "custom-renamed")
    assert (fake.requests[-1].header("x-other"), fake.requests[-1].header("x-tenant-key")) == ("v", None)
    missing = gw.http.patch(f"{NATIVE}/renamed", json={"headers": {"X-Tenant-Key": "[redacted]"}})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == (
        "headers.X-Tenant-Key: '[redacted]' keeps a stored value, but no header 'X-Tenant-Key' is stored"
    )
    typo = gw.http.get(f"{NATIVE}/renamd")
    assert (
        typo.json()["error"]["message"]
        == "no custom provider 'renamd' in account 'local'; did you mean 'renamed'?"
    )

    clash = gw.http.post(NATIVE, json=body | {"slug": "shared"})
    assert clash.status_code == 409
    assert "custom-shared is already a provider configured for the whole Sluicegate" in clash.text
    ask(gw, "custom-shared")  # the configured one, untouched
    assert gw.http.delete(f"{NATIVE}/renamed").status_code == 204
    assert gw.http.get(NATIVE).json() == {"result": []}
    actions = [e["action"] for e in gw.http.get("/api/v1/accounts/local/audit").json()["result"]]
    assert actions[:3] == ["custom_provider.delete", "custom_provider.update", "custom_provider.create"]


@pytest.mark.parametrize("backend", ["scaled"])  # two replicas share PostgreSQL
def test_another_replica_sees_a_change_without_a_restart(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    shared = {
        "database_url": postgres_url,
        "cache_url": redis_url,
        "allowed_hosts": [loopback(fake)],
        "secret_key": "master-key-for-tests",
    }
    one, other = make_gateway(**shared), make_gateway(**shared)
    url = other.provider_url("custom-vllm") + "/chat/completions"
    request = {"model": "gpt-4o-mini", "messages": USER}
    assert httpx.post(url, json=request).status_code == 404
    created = one.http.post(
        CF, json={"base_url": fake.base_url, "name": "v", "slug": "vllm", "headers": HEADERS}
    )
    assert created.status_code == 200, created.text
    wait_until(lambda: httpx.post(url, json=request).status_code == 200)
    assert fake.requests[-1].header("x-tenant-key") == TENANT
    one.http.patch(f"{CF}/{created.json()['result']['id']}", json={"enable": False})
    wait_until(lambda: httpx.post(url, json=request).status_code == 403)


def test_a_client_of_the_openai_sdk_gets_the_refusal_as_an_error(
    gw: RunningGateway, fake: FakeOpenAI, cf: Cloudflare
) -> None:
    cf.ai_gateway.custom_providers.create(
        account_id=ACCOUNT, base_url=fake.base_url, name="Off", slug="off", enable=False
    )
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(gw, "custom-off")
    assert "is disabled (enable: false)" in str(refused.value)
    assert fake.requests == []


def test_tokens_urls_and_dynamic_routes_name_an_account_s_custom_provider(
    gw: RunningGateway, fake: FakeOpenAI, cf: Cloudflare
) -> None:
    cf.ai_gateway.custom_providers.create(
        account_id=ACCOUNT, base_url=fake.base_url, name="vLLM", slug="vllm", headers=HEADERS
    )
    typo = gw.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "t", "scopes": ["run"], "providers": ["custom-vlm"]}
    )
    assert (
        typo.json()["error"]["message"]
        == "providers.0: no provider 'custom-vlm'; did you mean 'custom-vllm'?"
    )
    only_custom = token(gw, "run", providers=["custom-vllm"])
    gw.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"authentication": True}})
    headers = {"cf-aig-authorization": f"Bearer {only_custom}"}
    request = {"model": "gpt-4o-mini", "messages": USER}
    assert (
        httpx.post(
            gw.provider_url("custom-vllm") + "/chat/completions", json=request, headers=headers
        ).status_code
        == 200
    )
    assert (
        httpx.post(gw.provider_url("openai") + "/chat/completions", json=request, headers=headers).status_code
        == 403
    )

    url = cf.ai_gateway.urls.get("custom-vllm", account_id=ACCOUNT, gateway_id="default")
    assert url == gw.provider_url("custom-vllm")
    listed = gw.http.get("/api/v1/accounts/local/gateways/default/urls").json()["result"]
    assert {"provider": "custom-vllm", "path": "/v1/local/default/custom-vllm"}.items() <= next(
        u for u in listed if u["provider"] == "custom-vllm"
    ).items()

    routes = {
        "settings": {
            "routes": {
                "ours": {"fallback": [{"model": "custom-vllm/error-500"}, {"model": "custom-vllm/served"}]}
            }
        }
    }
    assert gw.http.patch("/api/v1/accounts/local/gateways/default", json=routes).status_code == 200
    with OpenAI(
        base_url=gw.provider_url("compat"), api_key="unused", max_retries=0, default_headers=headers
    ) as client:
        answered = client.chat.completions.create(model="dynamic/ours", messages=USER)
    assert answered.model == "served"
    assert [r.json["model"] for r in fake.requests[-2:]] == ["error-500", "served"]
    assert {r.header("x-tenant-key") for r in fake.requests[-2:]} == {TENANT}


@pytest.mark.parametrize("backend", ["embedded"])  # the CLI calls the running gateway's API
def test_the_cli_creates_lists_and_deletes_custom_providers(gw: RunningGateway, fake: FakeOpenAI) -> None:
    remote = ("--url", gw.url, "--token", gw.settings.admin_token)
    created = run_cli(
        gw.settings.data_dir, "custom-providers", "create", "Team vLLM", "--base-url", fake.base_url,
        "--header", f"X-Tenant-Key: {TENANT}", *remote,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created custom-team-vllm (")
    ask(gw, "custom-team-vllm")
    assert fake.requests[-1].header("x-tenant-key") == TENANT
    listed = run_cli(gw.settings.data_dir, "custom-providers", "list", *remote, env={"COLUMNS": "160"})
    assert listed.returncode == 0, listed.stderr
    assert TENANT not in listed.stdout
    assert table_rows(listed.stdout) == [
        ["custom-team-vllm", "Team vLLM", fake.base_url, "True", "X-Tenant-Key"]
    ]
    refused = run_cli(
        gw.settings.data_dir, "custom-providers", "create", "x", "--base-url", "http://x.example", *remote
    )
    assert refused.returncode == 1
    assert "plain http is only allowed" in refused.stderr
    deleted = run_cli(gw.settings.data_dir, "custom-providers", "delete", "team-vllm", *remote)
    assert deleted.returncode == 0, deleted.stderr
    assert gw.http.get(NATIVE).json() == {"result": []}
