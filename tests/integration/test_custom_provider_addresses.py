"""An account's custom provider cannot point the gateway at addresses the operator did not open
(security finding 3, MEDIUM: SSRF through `base_url`). A real gateway on loopback, the fake OpenAI
as the server behind it, the `cloudflare` and `openai` SDKs as clients.

Two checks: when the provider is stored, its host is read as the resolver reads it (hex, octal,
decimal and short IPv4, a trailing dot, IPv6, `localhost`); when the gateway connects, a name that
resolves to a non-public address is refused before any connection, with the same 403 whether
anything listens there or not. Hosts listed in `allowed_hosts` stay reachable, and the built-in
providers' pool is not checked at all."""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

import httpx2 as httpx
import openai
import pytest
from cloudflare import BadRequestError, Cloudflare
from multidict import CIMultiDict
from openai import OpenAI

from sluicegate.addresses import non_public
from sluicegate.errors import UpstreamUnreachable
from sluicegate.hosts import base_url_problem
from sluicegate.upstream import Upstream, UpstreamRequest
from sluicegate.upstream_connect import ACCOUNT_HOST_UNREACHABLE
from sluicegate.upstream_guard import NonPublicAddress
from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cloudflare_api import error_of

CF = "/client/v4/accounts/local/ai-gateway/custom-providers"
NATIVE = "/api/v1/accounts/local/custom-providers"
SETTING = "SLUICEGATE_ALLOWED_HOSTS"
USER: list[Any] = [{"role": "user", "content": "where am I?"}]
# Each form the tester stored (and more), with what the 400 must say it means.
FORMS = {
    "https://0x7f000001/v1": "loopback IP address 127.0.0.1 written another way",
    "https://localhost/v1": "'localhost' names the gateway's own machine",
    "https://LOCALHOST/v1": "'localhost' names the gateway's own machine",
    "https://api.localhost/v1": "'api.localhost' names the gateway's own machine",
    "https://0xa9fea9fe/latest": "link-local IP address 169.254.169.254 written another way",
    "https://127.0.0.1./v1": "'127.0.0.1.' is a loopback IP address",
    "https://2130706433/v1": "loopback IP address 127.0.0.1 written another way",
    "https://127.1/v1": "loopback IP address 127.0.0.1 written another way",
    "https://0177.0.0.1/v1": "loopback IP address 127.0.0.1 written another way",
    "https://0251.0376.0251.0376/v1": "link-local IP address 169.254.169.254 written another way",
    "https://[::ffff:127.0.0.1]/v1": "loopback IP address (carrying 127.0.0.1)",
    "https://[::1]/v1": "is a loopback IP address",
    "https://[fd00::1]/v1": "private (unique local) IP address",
    "https://[fe80::1]/v1": "link-local IP address",
    "https://100.64.0.1/v1": "shared (carrier-grade NAT) IP address",
}


def port_of(fake: FakeOpenAI) -> int:
    return int(fake.url.rpartition(":")[2])


def ask(gw: RunningGateway, provider: str) -> Any:
    with OpenAI(base_url=gw.provider_url(provider), api_key="sk-client-own-key", max_retries=0) as client:
        return client.chat.completions.create(model="gpt-4o-mini", messages=USER)


def create(gw: RunningGateway, slug: str, base_url: str) -> httpx.Response:
    return gw.http.post(NATIVE, json={"name": slug, "slug": slug, "base_url": base_url})


def local_name() -> str:
    """This machine's name, when it resolves (through /etc/hosts or nss, no DNS server) to
    addresses that are not public and passes the check on stored hosts: a name an account could
    store that leads back into the gateway's own network."""
    name = socket.gethostname().lower()
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    except OSError as exc:
        pytest.skip(f"this machine's name {name!r} does not resolve: {exc}")
    if base_url_problem(f"https://{name}/v1", []) is not None:
        pytest.skip(f"this machine's name {name!r} is refused when stored already")
    if not all(non_public(ip_address(address.partition("%")[0])) for address in found):
        pytest.skip(f"this machine's name {name!r} resolves to a public address: {sorted(found)}")
    return name


def test_each_form_of_a_private_address_is_refused_when_stored_saying_why(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    gw = make_gateway()
    with Cloudflare(api_token=ADMIN_TOKEN, base_url=gw.url + "/client/v4", max_retries=0) as cf:
        for base_url, meaning in FORMS.items():
            with pytest.raises(BadRequestError) as refused:
                cf.ai_gateway.custom_providers.create(
                    account_id="local", base_url=base_url, name="x", slug="x"
                )
            error = error_of(refused.value)
            assert error["source"] == {"pointer": "/base_url"}, base_url
            assert meaning in error["message"], (base_url, error["message"])
            assert f"only reachable when the operator lists it in {SETTING}" in error["message"]
        for base_url, meaning in FORMS.items():  # the native API: the same rule
            native = create(gw, "y", base_url)
            assert native.status_code == 400, (base_url, native.text)
            assert meaning in native.json()["error"]["message"]
    # An update is checked whole, as a creation is.
    assert create(gw, "public", "https://llm.example.com/v1").status_code == 201
    moved = gw.http.patch(NATIVE + "/public", json={"base_url": "https://0xa9fea9fe/latest"})
    assert moved.status_code == 400
    assert "169.254.169.254" in moved.json()["error"]["message"]
    stored = gw.http.get(NATIVE).json()["result"]
    assert [(p["slug"], p["base_url"]) for p in stored] == [("public", "https://llm.example.com/v1")]


def test_a_name_that_resolves_to_a_private_address_is_refused_when_connecting(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    name = local_name()
    gw = make_gateway(upstreams={"openai": fake.base_url})
    assert create(gw, "rebind", f"https://{name}/v1").status_code == 201  # a name: stored
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(gw, "custom-rebind")
    error = refused.value.response.json()["error"]
    assert error["code"] == "upstream_address_refused"
    assert error["setting"] == SETTING
    assert f"{name!r} resolves to an address that is not public" in error["message"]
    # Nothing tells whether anything listens there: no address, port, connection or TLS detail.
    for detail in ("127.0", ":443", "443", "connect", "ssl", "certificate", "refused"):
        assert detail not in error["message"].lower().replace("not public", ""), detail
    record = gw.wait_for_logs(1)[0]
    assert (record["status"], record["provider"]) == (403, "custom-rebind")
    assert "127.0" not in str(record["error"])

    # In a route, the refused target falls back to the next one, a built-in provider.
    routes = {"routes": {"r": {"fallback": [{"model": "custom-rebind/x"}, {"model": "openai/gpt-4o-mini"}]}}}
    assert gw.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": routes}).is_success
    with OpenAI(base_url=gw.provider_url("compat"), api_key="sk-client-own-key", max_retries=0) as client:
        answered = client.chat.completions.with_raw_response.create(model="dynamic/r", messages=USER)
    assert (answered.headers["cf-aig-step"], answered.parse().model) == ("1", "gpt-4o-mini")

    # Opened by the operator, the same name is reached.
    port = port_of(fake)
    opened = make_gateway(allowed_hosts=[f"{name}:{port}"])
    assert create(opened, "ours", f"http://{name}:{port}/v1").status_code == 201
    before = len(fake.requests)
    assert ask(opened, "custom-ours").choices[0].message.content == "echo: where am I?"
    assert len(fake.requests) == before + 1


def test_localhost_is_reached_only_where_the_operator_opened_it(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    port = port_of(fake)
    gw = make_gateway(
        allowed_hosts=[f"localhost:{port}"], upstreams={"openai": f"http://localhost:{port}/v1"}
    )
    refused = create(gw, "home", "https://localhost/v1")  # not the port the operator opened
    assert refused.status_code == 400
    assert "'localhost' names the gateway's own machine" in refused.json()["error"]["message"]
    # The opened name and port: stored, and its requests pass the check when connecting.
    assert create(gw, "local", f"http://LOCALHOST:{port}/v1").status_code == 201
    assert ask(gw, "custom-local").choices[0].message.content == "echo: where am I?"
    # The built-in provider configured on a loopback name is the operator's: not checked.
    assert ask(gw, "openai").choices[0].message.content == "echo: where am I?"
    assert [r.path for r in fake.requests[-2:]] == ["/v1/chat/completions"] * 2


def chat(url: str, account_host: bool) -> UpstreamRequest:
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    headers = CIMultiDict({"Content-Type": "application/json", "Authorization": "Bearer sk-test"})
    return UpstreamRequest("POST", url + "/v1/chat/completions", headers, body, 10, account_host)


async def test_the_account_pool_refuses_before_connecting_and_the_providers_pool_is_unchanged(
    fake: FakeOpenAI, refused_port: int
) -> None:
    listening, silent = f"http://localhost:{port_of(fake)}", f"http://localhost:{refused_port}"
    pool = Upstream(connect_timeout=5)
    await pool.open()
    try:
        with pytest.raises(NonPublicAddress) as there:
            await pool.send(chat(listening, account_host=True))
        with pytest.raises(NonPublicAddress) as nothing_there:
            await pool.send(chat(silent, account_host=True))
        # The same answer whether a server listens or not: the address was never tried.
        assert (there.value.status, there.value.message) == (403, nothing_there.value.message)
        assert fake.requests == []
        # The providers' pool reaches the same name as before (and fails as before).
        answer = await pool.send(chat(listening, account_host=False))
        assert (answer.status, len(fake.requests)) == (200, 1)
        await answer.read_body(10)
        with pytest.raises(UpstreamUnreachable):
            await pool.send(chat(silent, account_host=False))
    finally:
        await pool.close()
    opened = Upstream(connect_timeout=5, allowed_hosts=[f"localhost:{port_of(fake)}"])
    await opened.open()
    try:
        answer = await opened.send(chat(listening, account_host=True))
        assert (answer.status, len(fake.requests)) == (200, 2)
        await answer.read_body(10)
    finally:
        await opened.close()


async def test_an_account_host_that_cannot_be_reached_is_one_answer_whatever_the_cause(
    refused_port: int,
) -> None:
    """A name that does not resolve said "Name or service not known", a port nobody listens on
    "Connect call failed": an account admin could tell which internal names exist. Both now get one
    message (an operator-listed address stands in for a public one: refused_port is its port)."""
    pool = Upstream(connect_timeout=5, allowed_hosts=[f"127.0.0.1:{refused_port}"])
    await pool.open()
    try:
        with pytest.raises(UpstreamUnreachable) as unknown_name:
            await pool.send(chat("http://no-such-host.invalid", account_host=True))
        with pytest.raises(UpstreamUnreachable) as nobody_listening:
            await pool.send(chat(f"http://127.0.0.1:{refused_port}", account_host=True))
    finally:
        await pool.close()
    assert unknown_name.value.message == nobody_listening.value.message == ACCOUNT_HOST_UNREACHABLE
