"""Every registered provider through a running gateway against its fake upstream: a plain request,
a streamed one, an upstream error, usage read from the JSON answer and from the stream, a stored
key injected where the provider takes it, and host-in-path where the provider has a host.

The cases (the request in each provider's wire format) are in registry_cases.py; a provider added
to the registry without one fails `test_every_registered_provider_has_a_case`, and one reachable
host-in-path without a `Case.host` fails `test_every_provider_reachable_host_in_path_has_a_case_host`
(both start no gateway).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from sluicegate.app import create_app
from sluicegate.config import load_settings
from sluicegate.errors import GatewayError
from sluicegate.hosts import HostMap
from sluicegate.providers import REGISTRY, Provider
from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import BEHAVIOR_HEADER
from tests.fakes.server_thread import ServerThread
from tests.integration.registry_cases import CASES, Case, Fake

PROVIDERS = sorted(REGISTRY)
STREAMED = sorted(name for name in PROVIDERS if CASES[name].streamed is not None)
HOSTED = sorted(name for name in PROVIDERS if CASES[name].host is not None)
KEYED = "keyed"  # the gateway that keeps a stored key for every provider
STORED_KEY = "stored-provider-key-0123456789"
LOGS = "/api/v1/accounts/local/gateways/{gateway}/logs"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Fake]]:
    with contextlib.ExitStack() as stack:
        started: dict[str, Fake] = {}
        for name in PROVIDERS:
            fake = CASES[name].make_fake()
            fake.serve()
            stack.callback(fake.stop)
            started[name] = fake
        yield started


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, Fake], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the whole registry: each provider's upstream is its fake, so is each host."""
    hosts = {CASES[name].host: fakes[name] for name in HOSTED}
    settings = load_settings(
        environ={},
        data_dir=tmp_path_factory.mktemp("registry"),
        log_flush_interval=0.02,
        admin_token=ADMIN_TOKEN,
        secret_key="master-key-for-tests",
        upstreams={name: CASES[name].base_url(fake) for name, fake in fakes.items()},
        host_overrides={host.host: fake.url for host, fake in hosts.items() if host is not None},
    )
    running = RunningGateway(ServerThread(create_app(settings)).start(), settings)
    created = running.http.post("/api/v1/accounts/local/gateways", json={"name": KEYED})
    assert created.status_code == 201, created.text
    for name in PROVIDERS:
        stored = running.http.put(
            f"/api/v1/accounts/local/gateways/{KEYED}/provider-keys/{name}", json={"key": STORED_KEY}
        )
        assert stored.status_code in (200, 201), stored.text
    yield running
    running.http.close()
    running.server.stop()


def key_header(name: str, key: str) -> tuple[str, str]:
    """The header carrying `key` as provider `name` takes it (from the case, not the adapter)."""
    header, template = CASES[name].key
    return header, template.format(key=key)


def client_key(name: str) -> dict[str, str]:
    """The key header a client of `name` sends."""
    return dict([key_header(name, f"client-key-of-{name}")])


def send(url: str, case: Case, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    all_headers = {**dict(case.headers), **(headers or {})}
    return httpx.post(url, json=body, headers=all_headers, timeout=10)


def record(gateway: RunningGateway, response: httpx.Response, on: str = "default") -> dict[str, Any]:
    """The log record of `response`, once written (records are written after the response)."""
    log_id = response.headers["cf-aig-log-id"]
    deadline = time.monotonic() + 10
    while True:
        found = gateway.http.get(f"{LOGS.format(gateway=on)}/{log_id}")
        if found.status_code == 200 or time.monotonic() > deadline:
            assert found.status_code == 200, found.text
            document: dict[str, Any] = found.json()
            return document.get("result", document)
        time.sleep(0.02)


def test_every_registered_provider_has_a_case() -> None:
    assert set(CASES) == set(REGISTRY)


def probe_hosts() -> set[str]:
    """Hosts in the shapes providers serve host-in-path at: each one's API host (a `{resource}` in
    it filled in), its compat host, a region-prefixed form of the API host (Vertex AI's
    `us-central1-aiplatform.googleapis.com`) and every case's host."""
    hosts: set[str] = set()
    for provider in REGISTRY.values():
        api_host = re.sub(r"\{[^}]*\}", "myresource", urlsplit(provider.default_base_url).netloc.lower())
        hosts |= {api_host, f"us-central1-{api_host}", provider.compat_host}
    return (hosts | {case.host.host for case in CASES.values() if case.host is not None}) - {""}


def serves_a_host(provider: Provider, hosts: set[str]) -> bool:
    """Whether `provider` is reachable host-in-path: as a compat host, or its `host_route` answers
    for one of `hosts` (a refusal of the path, Azure's 400, answers too: the host is its own)."""
    if provider.compat_host:
        return True
    for host in hosts:
        try:
            if provider.host_route(host, "v1/chat/completions", None) is not None:
                return True
        except GatewayError:
            return True
    return False


def test_every_provider_reachable_host_in_path_has_a_case_host() -> None:
    """No provider skips test_host_in_path_reaches_the_provider silently: one that serves a host
    has a `Case.host`, and that host reaches it (HostMap, as the host planner asks)."""
    hosts = probe_hosts()
    unhosted = [name for name in PROVIDERS if serves_a_host(REGISTRY[name], hosts) and name not in HOSTED]
    assert unhosted == [], f"add a Case.host in registry_cases.py for {unhosted}"
    host_map = HostMap(REGISTRY, allowed_hosts=(), overrides={})
    for name in HOSTED:
        host = CASES[name].host
        assert host is not None
        assert host_map.target(host.host, host.path, host.compat).provider.name == name, host


@pytest.mark.parametrize("name", PROVIDERS)
def test_plain_request_is_relayed_and_its_usage_read(
    gateway: RunningGateway, fakes: dict[str, Fake], name: str
) -> None:
    case = CASES[name]
    response = send(
        f"{gateway.provider_url(name)}/{case.path}", case, case.body(f"plain {name}"), client_key(name)
    )
    assert response.status_code in (200, 201), response.text
    header, value = key_header(name, f"client-key-of-{name}")
    assert fakes[name].requests[-1].header(header) == value  # a client's own key is sent as it came
    logged = record(gateway, response)
    assert (logged["provider"], logged["stream"], logged["status"]) == (name, False, response.status_code)
    assert (logged["tokens_in"], logged["tokens_out"]) == case.tokens(response.json())
    assert logged["usage_estimated"] is False


@pytest.mark.parametrize("name", STREAMED)
def test_streamed_request_is_relayed_and_its_usage_read(
    gateway: RunningGateway, fakes: dict[str, Fake], name: str
) -> None:
    case = CASES[name]
    assert case.streamed is not None
    text = f"streamed {name} question"
    plain = send(f"{gateway.provider_url(name)}/{case.path}", case, case.body(text), client_key(name))
    path, body = case.streamed(text)
    received = len(fakes[name].requests)
    with httpx.stream(
        "POST",
        f"{gateway.provider_url(name)}/{path}",
        json=body,
        headers={**dict(case.headers), **client_key(name)},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        streamed = b"".join(response.iter_bytes())
    assert streamed
    assert len(fakes[name].requests) == received + 1  # answered by the upstream, not a cache
    logged = record(gateway, response)
    assert (logged["provider"], logged["stream"], logged["status"]) == (name, True, 200)
    # The stream reports the same usage as the same question asked unstreamed.
    assert (logged["tokens_in"], logged["tokens_out"]) == case.tokens(plain.json())
    assert logged["usage_estimated"] is False


@pytest.mark.parametrize("name", PROVIDERS)
def test_upstream_error_is_relayed_and_logged(gateway: RunningGateway, name: str) -> None:
    case = CASES[name]
    response = send(
        f"{gateway.provider_url(name)}/{case.path}",
        case,
        case.body(f"failing {name}"),
        {**client_key(name), BEHAVIOR_HEADER: "error-500"},
    )
    assert response.status_code == 500
    logged = record(gateway, response)
    assert (logged["provider"], logged["status"]) == (name, 500)
    assert logged["error"]  # the start of the upstream's error body


@pytest.mark.parametrize("name", PROVIDERS)
def test_stored_key_goes_where_the_provider_takes_it(
    gateway: RunningGateway, fakes: dict[str, Fake], name: str
) -> None:
    case = CASES[name]
    url = f"{gateway.provider_url(name, gateway=KEYED)}/{case.path}"
    response = send(url, case, case.body(f"keyless {name}"))
    assert response.status_code in (200, 201), response.text
    header, value = key_header(name, STORED_KEY)
    assert fakes[name].requests[-1].header(header) == value
    logged = record(gateway, response, on=KEYED)
    assert logged["key_name"] == "default"
    assert STORED_KEY not in str(logged)  # never logged


@pytest.mark.parametrize("name", HOSTED)
def test_host_in_path_reaches_the_provider(
    gateway: RunningGateway, fakes: dict[str, Fake], name: str
) -> None:
    case = CASES[name]
    assert case.host is not None
    prefix = "compat/openai/" if case.host.compat else ""
    url = f"{gateway.url}/{prefix}{case.host.host}/{case.host.path}"
    received = len(fakes[name].requests)
    response = send(url, case, case.body(f"hosted {name}"), client_key(name))
    assert response.status_code == 200, response.text
    assert len(fakes[name].requests) == received + 1
    logged = record(gateway, response)
    assert logged["provider"] == name
    assert (logged["tokens_in"], logged["tokens_out"]) == case.tokens(response.json())
