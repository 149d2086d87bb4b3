"""Tenant boundaries: a token limited to some gateways acts on those alone (issue 17, findings 1 and 9).

Routes act on the gateway in their path, on the token's own gateways, or on the whole account
(an unlimited token only); a token never mints one wider than itself; purge-all purges only what
the token reaches, in the exact and the semantic cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

TOKENS = "/api/v1/accounts/local/tokens"
GATEWAYS = "/api/v1/accounts/local/gateways"
# Routes without a gateway in the path, by what they act on. A new route must be placed here.
ACCOUNT_LEVEL = {
    ("GET", TOKENS),
    ("DELETE", TOKENS + "/x"),
    ("PATCH", TOKENS + "/x"),
    ("POST", GATEWAYS),
    ("GET", "/api/v1/accounts/local/audit"),
    *((method, "/api/v1/accounts/local/custom-providers") for method in ("GET", "POST")),
    *((method, "/api/v1/accounts/local/custom-providers/x") for method in ("GET", "PATCH", "DELETE")),
}
NARROWED = {
    ("GET", "/api/v1/accounts/local/logs"),
    ("GET", "/api/v1/whoami"),
    ("GET", GATEWAYS),
    ("GET", "/api/v1/accounts/local/analytics"),
    ("GET", "/api/v1/accounts/local/analytics/semantic"),
    ("GET", "/api/v1/accounts/local/spend"),
    ("POST", TOKENS),
    ("POST", "/api/v1/cache/expire"),
    ("GET", "/api/v1/status"),  # this replica's backlog and Redis state: no account's data
}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    assert gateway.http.post(GATEWAYS, json={"name": "other"}).status_code == 201
    return gateway


def mint(gateway: RunningGateway, creator: str = ADMIN_TOKEN, **body: Any) -> httpx.Response:
    """POST a new token as `creator`; `body` defaults to a `run` token named t."""
    return httpx.post(
        gateway.url + TOKENS, json={"name": "t", "scopes": ["run"], **body}, headers=bearer(creator)
    )


def secret_of(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def refusal(response: httpx.Response) -> str:
    """The message of a 403 JSON error."""
    assert response.status_code == 403, (response.request.url, response.text)
    message: str = response.json()["error"]["message"]
    return message


def test_every_route_keeps_a_limited_admin_inside_its_gateways(gateway: RunningGateway) -> None:
    limited = secret_of(mint(gateway, scopes=["admin"], gateways=["other"]))
    doc = gateway.http.get("/api/v1/openapi.json").json()
    for template, item in doc["paths"].items():
        path = template.replace("{account}", "local").replace("{gateway}", "default")
        path = re.sub(r"{\w+}", "x", path)
        for method in item.keys() & {"get", "post", "patch", "put", "delete"}:
            operation = (method.upper(), path)
            response = httpx.request(method, gateway.url + path, json={}, headers=bearer(limited))
            if "{gateway}" in template:
                assert refusal(response) == "this token is limited to gateways 'other', not 'default'"
                assert response.json()["error"]["token_gateways"] == ["other"]
            elif operation in ACCOUNT_LEVEL:
                assert "acts on the whole account" in refusal(response), operation
                assert "limited to gateways 'other'" in refusal(response)
            else:
                assert operation in NARROWED, f"{operation} is not classified in this test"
                assert response.status_code != 403, (operation, response.text)
    listing = httpx.get(gateway.url + GATEWAYS, headers=bearer(limited)).json()["result"]
    assert [g["slug"] for g in listing] == ["other"]  # not 403: only the gateways it may use
    analytics = "/api/v1/accounts/local/analytics"
    other = httpx.get(gateway.url + analytics, params={"gateway": "default"}, headers=bearer(limited))
    assert refusal(other) == "this token is limited to gateways 'other', not 'default'"


def test_a_limited_admin_cannot_act_on_the_account(gateway: RunningGateway) -> None:
    limited = bearer(secret_of(mint(gateway, scopes=["admin"], gateways=["other"])))
    admin_id = gateway.http.get("/api/v1/whoami").json()["id"]
    revoke = httpx.delete(f"{gateway.url}{TOKENS}/{admin_id}", headers=limited)
    assert "needs a token not limited to gateways" in refusal(revoke)
    assert gateway.http.get("/api/v1/whoami").status_code == 200  # the admin token still works
    assert refusal(httpx.get(gateway.url + TOKENS, headers=limited))
    assert refusal(httpx.get(gateway.url + "/api/v1/accounts/local/audit", headers=limited))
    assert refusal(httpx.post(gateway.url + GATEWAYS, json={"name": "sneaky"}, headers=limited))
    assert gateway.http.get(GATEWAYS + "/sneaky").status_code == 404
    assert httpx.get(gateway.url + "/api/v1/whoami", headers=limited).json()["gateways"] == ["other"]


def test_a_limited_admin_mints_only_tokens_within_its_gateways(gateway: RunningGateway) -> None:
    limited = secret_of(mint(gateway, scopes=["admin"], gateways=["other"]))
    unlimited = refusal(mint(gateway, limited, scopes=["admin"]))
    assert unlimited == (
        "a token cannot create one wider than itself: this token is limited to gateways 'other',"
        " so a token it creates must list some of them in `gateways`"
    )
    assert mint(gateway, limited, scopes=["admin"]).json()["error"]["token_gateways"] == ["other"]
    wider = refusal(mint(gateway, limited, gateways=["other", "default"]))
    assert wider.endswith("this token is limited to gateways 'other', not 'default'")
    assert len(gateway.http.get(TOKENS).json()["result"]) == 2  # nothing was minted
    minted = secret_of(mint(gateway, limited, scopes=["read"], gateways=["other"]))
    me = httpx.get(gateway.url + "/api/v1/whoami", headers=bearer(minted)).json()
    assert (me["scopes"], me["gateways"]) == (["read"], ["other"])
    assert httpx.get(gateway.url + GATEWAYS + "/other/logs", headers=bearer(minted)).status_code == 200
    assert refusal(httpx.get(gateway.url + GATEWAYS + "/default/logs", headers=bearer(minted)))


def test_a_minted_token_expires_no_later_than_its_creator(gateway: RunningGateway) -> None:
    creator = secret_of(mint(gateway, scopes=["admin"], expires_in=3600))
    expires_at = httpx.get(gateway.url + "/api/v1/whoami", headers=bearer(creator)).json()["expires_at"]
    forever = refusal(mint(gateway, creator))
    assert forever.endswith("so a token it creates must expire by then")
    assert "this token expires at 20" in forever  # an ISO 8601 time
    assert refusal(mint(gateway, creator, expires_at=expires_at + 1))
    assert mint(gateway, creator, expires_at=expires_at).status_code == 201
    assert mint(gateway, creator, expires_in=60).status_code == 201


def test_token_gateways_must_be_slugs(gateway: RunningGateway) -> None:
    for gateways, field in (([], "gateways"), (["Other EU"], "gateways.0")):
        response = mint(gateway, gateways=gateways)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == field


def chat(gateway: RunningGateway, slug: str, question: str) -> Mapping[str, str]:
    """Ask `question` through gateway `slug` with the OpenAI SDK; the answer's headers."""
    client = openai.OpenAI(base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0)
    with client:
        messages: Any = [{"role": "user", "content": question}]
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
        return raw.headers


def cache_status(gateway: RunningGateway, slug: str) -> str:
    return chat(gateway, slug, "what is a cache")["cf-aig-cache-status"]


@pytest.mark.parametrize("route", ["/ai_accelerator/expire", "/api/v1/cache/expire"])
def test_a_limited_purge_all_purges_only_its_gateways(gateway: RunningGateway, route: str) -> None:
    for slug in ("default", "other"):
        gateway.http.patch(f"{GATEWAYS}/{slug}", json={"settings": {"cache_enabled": True}})
        cache_status(gateway, slug)
        assert cache_status(gateway, slug) == "HIT"
    purger = secret_of(mint(gateway, scopes=["purge_all"], gateways=["other"]))
    purged = httpx.post(gateway.url + route, headers={"Fastly-Key": purger})
    assert purged.status_code == 200, purged.text
    assert purged.json() == {"purged": 1}
    assert cache_status(gateway, "default") == "HIT"
    assert cache_status(gateway, "other") == "MISS"


def semantic_entries(gateway: RunningGateway) -> float:
    metrics = httpx.get(gateway.url + "/metrics").text
    size = re.search(r"^sluicegate_semantic_entries (\S+)$", metrics, re.M)
    return float(size.group(1)) if size else 0.0


def test_a_limited_purge_all_leaves_other_gateways_semantic_entries(gateway: RunningGateway) -> None:
    for slug in ("default", "other"):
        gateway.http.patch(f"{GATEWAYS}/{slug}", json={"settings": {"semantic_cache_enabled": True}})
        chat(gateway, slug, "How do I reset my password?")
    deadline = time.monotonic() + 10
    while semantic_entries(gateway) < 2:  # entries are stored after the answer
        assert time.monotonic() < deadline, "the semantic index never held both answers"
        time.sleep(0.02)
    purger = secret_of(mint(gateway, scopes=["purge_all"], gateways=["other"]))
    purged = httpx.post(gateway.url + "/ai_accelerator/expire", headers={"Fastly-Key": purger})
    assert purged.status_code == 200, purged.text
    assert semantic_entries(gateway) == 1
    paraphrase = "How can I reset my password?"
    assert chat(gateway, "default", paraphrase)["x-semantic-cache"] == "HIT"
    assert chat(gateway, "other", paraphrase)["x-semantic-cache"] == "MISS"
