"""An upstream error that quotes the credential it got does not show the client a credential the
gateway added from storage (security finding 7): a stored provider key, an account custom
provider's header. The client's own key, quoted back to that client, is left as it is.

A real gateway on loopback; the upstream is a small server that quotes what it was sent, as
providers do in their 401s; the clients are the openai SDK and a bare HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

STORED_KEY = "sk-STORED-OPENAI-KEY-0000000000111"
TENANT = "TENANT-SECRET-9876543210abcdef"  # stored as `Token <it>`; the upstream quotes it alone
CLIENT_KEY = "sk-client-own-key-0123456789abcdef"
GATEWAY = "/api/v1/accounts/local/gateways/default"
USER = [{"role": "user", "content": "hi"}]


def _quoted(request: web.Request) -> str:
    tenant = request.headers.get("x-tenant-key", "").partition(" ")[2]
    return f"bad key {request.headers.get('authorization', '(none)')}" + (
        f" for tenant {tenant}" if tenant else ""
    )


async def _chat(request: web.Request) -> web.StreamResponse:
    """`model` says how to answer: `whole` a 401 with its length, `chunked` a 401 of unknown length
    written in two parts split inside the key, `event` a 200 stream whose first event is the error
    (OpenAI's in-stream error), anything else a plain answer."""
    body = await request.json()
    error = json.dumps(
        {"error": {"message": _quoted(request), "type": "invalid_request_error", "code": "invalid_api_key"}}
    )
    if body["model"] == "whole":
        return web.json_response(text=error, status=401)
    if body["model"] == "chunked":
        response = web.StreamResponse(status=401, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        middle = error.index("OPENAI-KEY") if "OPENAI-KEY" in error else len(error) // 2
        await response.write(error[:middle].encode())
        await response.write(error[middle:].encode())
        await response.write_eof()
        return response
    if body["model"] == "event":
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: {error}\n\n".encode())
        await response.write_eof()
        return response
    message = {"role": "assistant", "content": _quoted(request)}
    answer = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip
    # A debug header quoting the credentials it got, as some upstreams (and proxies) add.
    debug = {"x-debug-key": request.headers.get("authorization", "(none)")}
    if "x-tenant-key" in request.headers:
        debug["x-debug-tenant"] = request.headers["x-tenant-key"].partition(" ")[2]
    return web.json_response(answer, headers=debug)


@pytest.fixture
def quoting() -> Iterator[ServerThread]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], quoting: ServerThread) -> RunningGateway:
    gateway = make_gateway(
        upstreams={"openai": quoting.url + "/v1"},
        allowed_hosts=[quoting.url.removeprefix("http://")],
        secret_key="master-key-for-echo-tests",
    )
    stored = gateway.http.put(f"{GATEWAY}/provider-keys/openai", json={"key": STORED_KEY})
    assert stored.status_code == 201, stored.text
    custom = {
        "name": "Tenant",
        "slug": "tenant",
        "base_url": quoting.url + "/v1",
        "headers": {"X-Tenant-Key": f"Token {TENANT}"},
    }
    created = gateway.http.post("/api/v1/accounts/local/custom-providers", json=custom)
    assert created.status_code == 201, created.text
    return gateway


def run_token(gw: RunningGateway) -> str:
    created = gw.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


def record_of(gw: RunningGateway, log_id: str) -> dict[str, Any]:
    gw.wait_for_logs(1)
    record: dict[str, Any] = gw.http.get(f"{GATEWAY}/logs/{log_id}").json()
    return record


def test_a_keyless_client_is_not_shown_the_stored_key_an_upstream_error_quotes(gw: RunningGateway) -> None:
    # The tester's repro: no key at all, the stored key goes upstream, and the 401 quotes it.
    url = gw.provider_url("openai") + "/chat/completions"
    for stream in (False, True):
        refused = httpx.post(url, json={"model": "whole", "messages": USER, "stream": stream})
        assert refused.status_code == 401, refused.text
        assert STORED_KEY not in refused.text
        assert refused.json()["error"]["message"] == "bad key Bearer [redacted]"
        assert refused.json()["error"]["code"] == "invalid_api_key"  # the rest is the upstream's
    # Of unknown length and split inside the key, relayed as it comes (a stream was asked for).
    split = httpx.post(url, json={"model": "chunked", "messages": USER, "stream": True})
    assert (split.status_code, split.json()["error"]["message"]) == (401, "bad key Bearer [redacted]")

    # The openai SDK, its gateway token where the key goes: the error it raises.
    with openai.OpenAI(base_url=gw.provider_url("openai"), api_key=run_token(gw), max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model="whole", messages=USER)  # type: ignore[arg-type]
        assert raised.value.body["message"] == "bad key Bearer [redacted]"  # type: ignore[index]
        assert STORED_KEY not in str(raised.value)
        # A 200 stream whose first event is the error: the SDK raises at it, masked too.
        with pytest.raises(openai.APIError) as in_stream:
            for _ in client.chat.completions.create(model="event", messages=USER, stream=True):  # type: ignore[arg-type]
                pass
        assert STORED_KEY not in str(in_stream.value)
        assert "bad key Bearer [redacted]" in str(in_stream.value)
        # A successful answer is not looked at (this upstream echoes the key in its answer).
        answered = client.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]
        assert answered.choices[0].message.content == f"bad key Bearer {STORED_KEY}"


def test_a_custom_providers_stored_header_is_masked_in_its_errors_and_records(gw: RunningGateway) -> None:
    client = openai.OpenAI(base_url=gw.provider_url("custom-tenant"), api_key=CLIENT_KEY, max_retries=0)
    with client, pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.with_raw_response.create(model="whole", messages=USER)  # type: ignore[arg-type]
    # The client's own key, quoted back to it, is its own: left as it is. The tenant's is not.
    assert raised.value.body["message"] == f"bad key Bearer {CLIENT_KEY} for tenant [redacted]"  # type: ignore[index]
    log_id = raised.value.response.headers["cf-aig-log-id"]
    # The record masks both (the tenant's credential alone, without its `Token` scheme, too).
    record = record_of(gw, log_id)
    shown = json.dumps(record)
    assert TENANT not in shown
    assert CLIENT_KEY not in shown
    assert "for tenant [redacted]" in record["error"]


def test_a_successful_answers_header_quoting_a_stored_credential_is_masked_its_body_is_not(
    gw: RunningGateway,
) -> None:
    """Masked as the answer arrives, so a cached answer's headers are stored masked and a hit
    shows no more; the body of a successful answer is passed on as the upstream wrote it."""
    gw.configure(cache_enabled=True)
    with openai.OpenAI(base_url=gw.provider_url("openai"), api_key=run_token(gw), max_retries=0) as client:
        for status in ("MISS", "HIT"):
            raw = client.chat.completions.with_raw_response.create(model="plain", messages=USER)  # type: ignore[arg-type]
            assert raw.status_code == 200
            assert raw.headers["cf-aig-cache-status"] == status
            assert raw.headers["x-debug-key"] == "Bearer [redacted]"
            assert raw.parse().choices[0].message.content == f"bad key Bearer {STORED_KEY}"
    # An account custom provider's stored credential too; the client's own key is its own to see.
    with openai.OpenAI(
        base_url=gw.provider_url("custom-tenant"), api_key=CLIENT_KEY, max_retries=0
    ) as client:
        raw = client.chat.completions.with_raw_response.create(model="plain", messages=USER)  # type: ignore[arg-type]
    assert raw.headers["x-debug-tenant"] == "[redacted]"
    assert raw.headers["x-debug-key"] == f"Bearer {CLIENT_KEY}"
    record = record_of(gw, raw.headers["cf-aig-log-id"])
    assert TENANT not in json.dumps(record)
