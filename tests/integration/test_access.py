"""Access control: scoped tokens on the admin API and on gateways, stored provider keys, log policy."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from sluicegate import readthrough
from tests.conftest import ADMIN_TOKEN, FakeClock, RunningGateway, stored_bytes
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

CHAT = "/v1/local/default/openai/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
PROVIDER_KEY = "sk-stored-provider-key-9f8e7d6c5b4a"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-tests")


def token(gateway: RunningGateway, *scopes: str, **extra: Any) -> str:
    body = {"name": "test", "scopes": list(scopes), **extra}
    response = gateway.http.post("/api/v1/accounts/local/tokens", json=body)
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def as_token(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def api_operations(gateway: RunningGateway) -> list[tuple[str, str]]:
    doc = gateway.http.get("/api/v1/openapi.json").json()
    operations = []
    for path, item in doc["paths"].items():
        concrete = path.replace("{account}", "local").replace("{gateway}", "default")
        concrete = re.sub(r"{\w+}", "x", concrete)
        operations += [
            (method.upper(), concrete)
            for method in item
            if method in ("get", "post", "patch", "put", "delete")
        ]
    return operations


def test_every_admin_route_needs_a_token_with_the_right_scope(gateway: RunningGateway) -> None:
    run_only = token(gateway, "run")
    operations = api_operations(gateway)
    assert len(operations) >= 12
    for method, path in operations:
        if path == "/api/v1/openapi.json":
            continue
        anonymous = httpx.request(method, gateway.url + path, json={})
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.json()["error"]["code"] == "unauthorized"
        wrong = httpx.request(method, gateway.url + path, json={}, headers=as_token("sg_not-a-real-token"))
        assert wrong.status_code == 401, (method, path)
        if path != "/api/v1/whoami":
            limited = httpx.request(method, gateway.url + path, json={}, headers=as_token(run_only))
            assert limited.status_code == 403, (method, path)


def test_read_scope_reads_but_does_not_change(gateway: RunningGateway) -> None:
    reader = as_token(token(gateway, "read"))
    assert (
        httpx.get(gateway.url + "/api/v1/accounts/local/gateways/default/logs", headers=reader).status_code
        == 200
    )
    assert (
        httpx.post(
            gateway.url + "/api/v1/accounts/local/gateways", json={"name": "x"}, headers=reader
        ).status_code
        == 403
    )
    purge = httpx.delete(gateway.url + "/api/v1/accounts/local/gateways/default/cache", headers=reader)
    assert purge.status_code == 403
    purger = as_token(token(gateway, "purge_all"))
    assert (
        httpx.delete(
            gateway.url + "/api/v1/accounts/local/gateways/default/cache", headers=purger
        ).status_code
        == 200
    )


def test_whoami_and_token_listing_never_show_secrets(gateway: RunningGateway) -> None:
    secret = token(gateway, "read", gateways=["default"])
    me = httpx.get(gateway.url + "/api/v1/whoami", headers=as_token(secret)).json()
    assert me["scopes"] == ["read"]
    assert me["gateways"] == ["default"]
    listing = gateway.http.get("/api/v1/accounts/local/tokens")
    assert secret not in listing.text
    assert ADMIN_TOKEN not in listing.text
    assert len(listing.json()["result"]) == 2


def test_authenticated_gateway_needs_a_run_token_for_that_gateway(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "b"})
    for slug in ("default", "b"):
        gateway.http.patch(
            f"/api/v1/accounts/local/gateways/{slug}", json={"settings": {"authentication": True}}
        )
    only_default = token(gateway, "run", gateways=["default"])
    reader = token(gateway, "read")
    assert gateway.http.post(CHAT, json=BODY, headers={"Authorization": ""}).status_code == 401
    for header in ("cf-aig-authorization", "fastly-key", "x-sluicegate-token"):
        value = f"Bearer {only_default}" if header == "cf-aig-authorization" else only_default
        assert httpx.post(gateway.url + CHAT, json=BODY, headers={header: value}).status_code == 200, header
    other = httpx.post(
        gateway.url + "/v1/local/b/openai/chat/completions", json=BODY, headers={"fastly-key": only_default}
    )
    assert other.status_code == 403
    assert httpx.post(gateway.url + CHAT, json=BODY, headers={"fastly-key": reader}).status_code == 403
    assert len(fake.requests) == 3
    # The gateway token never travels upstream.
    assert all(
        r.header("fastly-key") is None and r.header("cf-aig-authorization") is None for r in fake.requests
    )


def test_expired_and_revoked_tokens_are_refused_at_once(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url})
    short = token(gateway, "read", expires_at=clock.now + 60)
    logs = "/api/v1/accounts/local/gateways/default/logs"
    assert httpx.get(gateway.url + logs, headers=as_token(short)).status_code == 200
    clock.advance(61)
    assert httpx.get(gateway.url + logs, headers=as_token(short)).status_code == 401
    revocable = token(gateway, "read", expires_at=clock.now + 3600)
    assert httpx.get(gateway.url + logs, headers=as_token(revocable)).status_code == 200
    token_id = gateway.http.get("/api/v1/whoami", headers=as_token(revocable)).json()["id"]
    assert gateway.http.delete(f"/api/v1/accounts/local/tokens/{token_id}").status_code == 204
    assert httpx.get(gateway.url + logs, headers=as_token(revocable)).status_code == 401


def test_a_revoked_token_beside_a_valid_one_is_refused_naming_where(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """The first token found counts (the token headers, then the provider key's place), but one
    passed over must be valid too: a revoked token beside a valid one went unnoticed."""
    valid, other = token(gateway, "run"), token(gateway, "run")
    revoked = token(gateway, "run")
    revoked_id = gateway.http.get("/api/v1/whoami", headers=as_token(revoked)).json()["id"]
    assert gateway.http.delete(f"/api/v1/accounts/local/tokens/{revoked_id}").status_code == 204
    refusals = [
        (
            [("cf-aig-authorization", f"Bearer {valid}"), ("cf-aig-authorization", f"Bearer {revoked}")],
            "cf-aig-authorization",
        ),
        (
            [("cf-aig-authorization", f"Bearer {valid}"), ("Authorization", f"Bearer {revoked}")],
            "provider key",
        ),
        (
            [("x-sluicegate-token", revoked), ("cf-aig-authorization", f"Bearer {valid}")],
            "x-sluicegate-token",
        ),
    ]
    for headers, where in refusals:
        refused = httpx.post(gateway.url + CHAT, json=BODY, headers=httpx.Headers(headers))
        assert refused.status_code == 401, (headers, refused.text)
        message = refused.json()["error"]["message"]
        assert message == f"the gateway token in {where} is invalid, expired or revoked"
        assert revoked not in refused.text
    assert fake.requests == []
    # Two valid tokens: the first in that order counts; the same token twice is one token.
    for headers in (
        [("cf-aig-authorization", f"Bearer {valid}"), ("Authorization", f"Bearer {other}")],
        [("cf-aig-authorization", f"Bearer {valid}"), ("x-sluicegate-token", valid)],
    ):
        answered = httpx.post(gateway.url + CHAT, json=BODY, headers=httpx.Headers(headers))
        assert answered.status_code == 200, answered.text


def test_a_revocation_reaches_another_replica_within_a_second(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path
) -> None:
    one = make_gateway(upstreams={"openai": fake.base_url}, data_dir=tmp_path / "shared")
    two = make_gateway(upstreams={"openai": fake.base_url}, data_dir=tmp_path / "shared")
    secret = token(one, "read")
    logs = "/api/v1/accounts/local/gateways/default/logs"
    assert httpx.get(two.url + logs, headers=as_token(secret)).status_code == 200  # now cached on two
    token_id = one.http.get("/api/v1/whoami", headers=as_token(secret)).json()["id"]
    assert one.http.delete(f"/api/v1/accounts/local/tokens/{token_id}").status_code == 204
    revoked_at = time.monotonic()
    while httpx.get(two.url + logs, headers=as_token(secret)).status_code == 200:
        assert time.monotonic() - revoked_at < 1.5, "replica two still accepts a revoked token"
        time.sleep(0.05)


def test_a_replica_idle_past_the_token_cache_refuses_a_whole_burst_with_a_revoked_token(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The burst waits for one refresh; past STALE_WAIT (50 ms) a slow database read is taken as
    # an outage and the expired entry answered, which a loaded CI machine's PostgreSQL round trip
    # can take. What is checked is that the burst shares the refresh, not how fast it is.
    monkeypatch.setattr(readthrough, "STALE_WAIT", 5.0)
    one, two = (
        make_gateway(clock=clock, upstreams={"openai": fake.base_url}, data_dir=tmp_path / "shared")
        for _ in range(2)
    )
    one.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"authentication": True}})
    secret = token(one, "run")
    headers = {"cf-aig-authorization": f"Bearer {secret}"}
    assert httpx.post(two.url + CHAT, json=BODY, headers=headers).status_code == 200  # cached on two
    token_id = one.http.get("/api/v1/whoami", headers=as_token(secret)).json()["id"]
    assert one.http.delete(f"/api/v1/accounts/local/tokens/{token_id}").status_code == 204
    clock.advance(5)  # two has had no request since: its cached token has expired

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=two.url, limits=httpx.Limits(max_connections=50)) as client:
            answers = await asyncio.gather(
                *(client.post(CHAT, json=BODY, headers=headers) for _ in range(50))
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(burst()) == [401] * 50
    assert len(fake.requests) == 1


def test_stored_provider_key_is_injected_but_never_shown_or_stored_in_clear(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": PROVIDER_KEY}
    )
    assert stored.status_code == 201
    assert PROVIDER_KEY not in stored.text
    assert stored.json()["fingerprint"].endswith(PROVIDER_KEY[-4:])
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="unused", max_retries=0)
    # The SDK always sends Authorization; a request without one gets the stored key.
    answer = httpx.post(gateway.url + CHAT, json=BODY)
    assert answer.status_code == 200
    assert fake.requests[-1].header("authorization") == f"Bearer {PROVIDER_KEY}"
    client.chat.completions.create(model="gpt-4o-mini", messages=BODY["messages"])  # its own key wins
    assert fake.requests[-1].header("authorization") == "Bearer unused"
    client.close()
    records = gateway.wait_for_logs(2)
    for record in records:
        detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}")
        assert PROVIDER_KEY not in detail.text
    assert PROVIDER_KEY not in gateway.http.get("/api/v1/accounts/local/gateways/default/provider-keys").text
    assert PROVIDER_KEY not in gateway.http.get("/api/v1/accounts/local/audit").text
    stored = stored_bytes(gateway.settings)
    assert b"default" in stored  # the dump holds the data
    assert PROVIDER_KEY.encode() not in stored


def test_a_short_keys_fingerprint_cannot_be_tried_against(gateway: RunningGateway) -> None:
    # A local server's key chosen by hand: an unkeyed hash of it (older versions showed 48 bits of
    # its SHA-256) gives it away to anyone who tries every key of 4 characters or fewer.
    keys = "/api/v1/accounts/local/gateways/default/provider-keys"
    stored = gateway.http.put(f"{keys}/openai", json={"key": "k3y9"})
    assert stored.status_code == 201
    fingerprint = stored.json()["fingerprint"]
    assert fingerprint.startswith("hmac:")
    assert hashlib.sha256(b"k3y9").hexdigest()[:12] not in fingerprint
    assert "k3y9" not in fingerprint
    # The listing and the audit trail show the one fingerprint, so a rotation can be told by it.
    assert [key["fingerprint"] for key in gateway.http.get(keys).json()["result"]] == [fingerprint]
    put = next(e for e in gateway.http.get("/api/v1/accounts/local/audit").json()["result"]
               if e["action"] == "provider_key.put")  # fmt: skip
    assert put["details"]["fingerprint"] == fingerprint
    assert gateway.http.put(f"{keys}/openai", json={"key": "k3y8"}).json()["fingerprint"] != fingerprint


def test_a_key_for_an_unknown_provider_is_refused_with_the_one_meant(gateway: RunningGateway) -> None:
    response = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/opnai", json={"key": "k"}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == "unknown provider 'opnai'; did you mean 'openai'?"
    assert error["code"] == "unknown_provider"
    assert "openai" in error["providers"]
    assert gateway.http.get("/api/v1/accounts/local/gateways/default/provider-keys").json()["result"] == []


def test_storing_a_key_needs_a_master_key(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    response = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": "k"}
    )
    assert response.status_code == 409
    assert "SLUICEGATE_SECRET_KEY" in response.json()["error"]["message"]


def test_a_key_sealed_under_another_master_key_refuses_instead_of_going_keyless(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-tests")
    keys = "/api/v1/accounts/local/gateways/default/provider-keys"
    assert first.http.put(f"{keys}/openai", json={"key": PROVIDER_KEY}).status_code == 201
    first.server.stop()
    # The same data after a move with a mistyped SLUICEGATE_SECRET_KEY, or with none at all.
    for restarts, secret in enumerate(("a-mistyped-master-key", ""), start=1):
        again = make_gateway(upstreams={"openai": fake.base_url}, secret_key=secret)
        served = len(fake.requests)
        for _ in range(2):
            answer = httpx.post(again.url + CHAT, json=BODY)
            assert answer.status_code == 500, answer.text
            error = answer.json()["error"]
            assert error["code"] == "provider_keys_sealed"
            assert "SLUICEGATE_SECRET_KEY" in error["message"]
            assert error["keys"] == ["default"]
        assert len(fake.requests) == served  # no request went to the provider without its key
        # A request that brings a key of its own needs none stored.
        own = httpx.post(again.url + CHAT, json=BODY, headers={"Authorization": "Bearer sk-own"})
        assert own.status_code == 200
        assert fake.requests[-1].header("authorization") == "Bearer sk-own"
        refused = again.wait_for_logs(2 * restarts, status=500)  # answered, so logged
        assert len(refused) == 2 * restarts
        again.server.stop()
    warnings = [r.getMessage() for r in caplog.records if "cannot be unsealed" in r.getMessage()]
    assert len(warnings) == 2  # once per replica, not once per request
    assert all("local/default/openai" in warning for warning in warnings)


def test_retention_deletes_old_records(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    gateway = make_gateway(clock=clock, upstreams={"openai": fake.base_url}, retention_interval=0.05)
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"retention_days": 30}})
    old = httpx.post(gateway.url + CHAT, json=BODY).headers["cf-aig-log-id"]
    clock.advance(2 * 86400)
    young = httpx.post(gateway.url + CHAT, json=BODY).headers["cf-aig-log-id"]
    assert {r["id"] for r in gateway.wait_for_logs(2)} == {old, young}
    clock.advance(29 * 86400)  # old is 31 days old now, young 29
    deadline = time.monotonic() + 5
    while [r["id"] for r in gateway.logs()] != [young]:
        assert time.monotonic() < deadline, "retention did not delete exactly the 31-day-old record"
        time.sleep(0.05)


def test_record_cap_stop_inserting(gateway: RunningGateway) -> None:
    gateway.http.patch(
        "/api/v1/accounts/local/gateways/default",
        json={"settings": {"max_records": 2, "on_max_records": "stop"}},
    )
    for n in range(4):
        httpx.post(gateway.url + CHAT, json={**BODY, "messages": [{"role": "user", "content": str(n)}]})
        gateway.wait_for_logs(min(n + 1, 2))
    assert len(gateway.logs()) == 2


def test_redaction_applies_before_storage(gateway: RunningGateway) -> None:
    settings = {"redact_patterns": [r"[\w.+-]+@[\w-]+\.[\w.]+"], "redact_paths": ["messages.*.name"]}
    assert (
        gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings}).status_code
        == 200
    )
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "name": "Ada Lovelace", "content": "mail ada@example.org"}],
    }
    httpx.post(gateway.url + CHAT, json=body)
    record = gateway.wait_for_logs(1)[0]
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    assert "ada@example.org" not in detail["request_body"]
    assert "ada@example.org" not in detail["response_body"]  # the fake echoes it back
    assert "Ada Lovelace" not in detail["request_body"]
    assert "[redacted]" in detail["request_body"]
    assert b"ada@example.org" not in stored_bytes(gateway.settings)
    bad = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"redact_patterns": ["("]}}
    )
    assert bad.status_code == 400


def test_per_request_log_collection_headers(gateway: RunningGateway) -> None:
    httpx.post(gateway.url + CHAT, json=BODY, headers={"cf-aig-collect-log": "false"})
    httpx.post(gateway.url + CHAT, json=BODY, headers={"cf-aig-collect-log-payload": "false"})
    records = gateway.wait_for_logs(1)
    assert len(records) == 1
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{records[0]['id']}").json()
    assert detail["request_body"] is None
    assert detail["response_body"] is None
    assert detail["tokens_in"] > 0  # the record itself is complete


def test_collect_headers_take_every_spelling_of_yes_and_no(gateway: RunningGateway) -> None:
    for value in ("no", "0", "FALSE"):
        httpx.post(gateway.url + CHAT, json=BODY, headers={"cf-aig-collect-log": value})
    httpx.post(gateway.url + CHAT, json=BODY, headers={"cf-aig-collect-log-payload": "No"})
    [record] = gateway.wait_for_logs(1)
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    assert detail["request_body"] is None
    refused = httpx.post(gateway.url + CHAT, json=BODY, headers={"cf-aig-collect-log-payload": "nope"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["header"] == "cf-aig-collect-log-payload"
    assert "did you mean 'no'?" in error["message"]


def test_blank_collect_headers_are_as_if_absent(gateway: RunningGateway) -> None:
    """Clients template headers from variables that may be unset: `cf-aig-collect-log: ""` is no ask."""
    blank = {"cf-aig-collect-log": "", "cf-aig-collect-log-payload": ""}
    response = httpx.post(gateway.url + CHAT, json=BODY, headers=blank)
    assert response.status_code == 200, response.text
    [record] = gateway.wait_for_logs(1)
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    assert detail["request_body"] is not None


def test_collect_log_true_keeps_a_record_where_the_gateway_keeps_none(gateway: RunningGateway) -> None:
    """Cloudflare: "if logging is disabled at the gateway level, this header will save the log for
    that request"."""
    quiet = gateway.http.post(
        "/api/v1/accounts/local/gateways", json={"name": "quiet", "settings": {"collect_logs": False}}
    )
    assert quiet.status_code == 201, quiet.text
    chat = "/v1/local/quiet/openai/chat/completions"
    # The unkept request goes first: records are written in order, so once the kept one is found
    # the unkept one would have been written too, had the gateway logged it.
    httpx.post(gateway.url + chat, json=BODY)
    kept = httpx.post(gateway.url + chat, json=BODY, headers={"cf-aig-collect-log": "true"})
    log_id = kept.headers["cf-aig-log-id"]
    deadline = time.monotonic() + 10
    while (
        found := gateway.http.get(f"/api/v1/accounts/local/gateways/quiet/logs/{log_id}")
    ).status_code == 404:
        assert time.monotonic() < deadline, "the record asked for was never written"
        time.sleep(0.02)
    assert found.json()["request_body"] is not None
    assert [record["id"] for record in gateway.logs("quiet")] == [log_id]


def test_admin_actions_are_audited(gateway: RunningGateway) -> None:
    secret = token(gateway, "read")
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}})
    gateway.http.delete("/api/v1/accounts/local/gateways/default/cache")
    entries = gateway.http.get("/api/v1/accounts/local/audit").json()["result"]
    actions = [entry["action"] for entry in entries]
    assert actions == ["cache.purge", "gateway.update", "token.create"]
    admin_id = gateway.http.get("/api/v1/whoami").json()["id"]
    assert {entry["actor"] for entry in entries} == {admin_id}
    assert secret not in str(entries)
