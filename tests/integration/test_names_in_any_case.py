"""Names written as people write them, through a gateway on loopback: a provider filter names its
provider in any case on every surface that filters logs by provider (listings, exports, analytics,
the Cloudflare API), and a gateway's slug derived from its name spells its letters in ASCII."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT = "/api/v1/accounts/local"
CF_LOGS = "/client/v4/accounts/local/ai-gateway/gateways/default/logs"
MESSAGES = [{"role": "user", "content": "count me"}]


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def chat(gw: RunningGateway, provider: str = "openai") -> None:
    answer = gw.http.post(
        f"/v1/local/default/{provider}/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES}
    )
    assert answer.status_code == 200, answer.text


def test_analytics_and_the_cloudflare_log_filters_name_a_provider_in_any_case(gw: RunningGateway) -> None:
    chat(gw)
    chat(gw)
    gw.wait_for_logs(2)
    now = time.time()
    figures = gw.http.get(
        f"{ACCOUNT}/analytics", params={"from": now - 3600, "to": now + 60, "provider": "OpenAI"}
    )
    assert (figures.json()["totals"]["requests"], figures.json()["provider"]) == (2, "openai")
    flat = gw.http.get(CF_LOGS, params={"provider": "OpenAI"})
    assert len(flat.json()["result"]) == 2, flat.text
    filters = json.dumps([{"key": "provider", "operator": "eq", "value": ["OpenAI"]}])
    filtered = gw.http.get(CF_LOGS, params={"filters": filters})
    assert len(filtered.json()["result"]) == 2, filtered.text


def test_the_log_listings_and_export_name_a_provider_in_any_case(gw: RunningGateway) -> None:
    chat(gw)
    chat(gw)
    gw.wait_for_logs(2)
    listing = gw.http.get(f"{ACCOUNT}/gateways/default/logs", params={"provider": "OpenAI"})
    assert len(listing.json()["result"]) == 2, listing.text
    across = gw.http.get(f"{ACCOUNT}/logs", params={"provider": "OPENAI"})
    assert len(across.json()["result"]) == 2, across.text
    export = gw.http.get(f"{ACCOUNT}/gateways/default/logs/export", params={"provider": "OpenAI"})
    assert len(export.text.splitlines()) == 2, export.text


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Team <b>Ü</b>", "team-b-u-b"), ("Café Crème", "cafe-creme"), ("Straße Ørsted", "strasse-orsted")],
)
def test_a_slug_derived_from_a_name_transliterates_its_letters(
    gw: RunningGateway, name: str, slug: str
) -> None:
    created = gw.http.post(f"{ACCOUNT}/gateways", json={"name": name})
    assert created.status_code == 201, created.text
    assert (created.json()["slug"], created.json()["name"]) == (slug, name)
