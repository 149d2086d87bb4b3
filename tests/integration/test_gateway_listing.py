"""Listing many gateways: Cloudflare's list (the official `cloudflare` SDK) and the native one page
in SQL, and read no row they do not answer with.

That a row outside the page is not read is shown without a clock: a gateway whose stored settings
cannot be parsed (written into the database by hand) breaks every listing that parses it, and no
page that leaves it out.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
from cloudflare import Cloudflare

from sluicegate.gateway import GatewaySettings
from tests.conftest import ADMIN_TOKEN, RunningGateway

API = "/api/v1/accounts/local/gateways"
SLUGS = [f"g{i:03d}" for i in range(200)]


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    gateway = make_gateway()
    store(
        gateway,
        [
            (slug, GatewaySettings(cache_enabled=True, cache_ttl=60 + i).model_dump_json())
            for i, slug in enumerate(SLUGS)
        ],
    )
    return gateway


@pytest.fixture
def cloudflare(gw: RunningGateway) -> Iterator[Cloudflare]:
    with Cloudflare(api_token=ADMIN_TOKEN, base_url=gw.url + "/client/v4", max_retries=0) as client:
        yield client


def store(gw: RunningGateway, rows: list[tuple[str, str]]) -> None:
    """Gateways written straight into the embedded database (200 admin calls would take longer)."""
    with sqlite3.connect(gw.settings.data_dir / "sluicegate.db", timeout=10) as db:
        db.executemany(
            "INSERT INTO gateways (account, slug, name, settings, created_at) VALUES ('local', ?, ?, ?, ?)",
            [(slug, slug.upper(), settings, time.time()) for slug, settings in rows],
        )


def broken(gw: RunningGateway, slug: str) -> None:
    store(gw, [(slug, '{"cache_ttl": "soon"}')])


def test_the_cloudflare_list_answers_a_page_of_20_of_202_reading_only_that_page(
    gw: RunningGateway, cloudflare: Cloudflare
) -> None:
    broken(gw, "g150x")  # on page 8

    first = cloudflare.ai_gateway.list(account_id="local", per_page=20)
    assert [g.id for g in first.result] == ["default", *SLUGS[:19]]
    assert first.result_info is not None
    assert (first.result_info.count, first.result_info.total_count) == (20, 202)
    second = cloudflare.ai_gateway.list(account_id="local", per_page=20, page=2)
    assert [g.id for g in second.result] == SLUGS[19:39]
    assert [g.cache_ttl for g in second.result] == [60 + i for i in range(19, 39)]

    found = cloudflare.ai_gateway.list(account_id="local", search="g19", per_page=5)
    assert [g.id for g in found.result] == SLUGS[190:195]
    assert found.result_info is not None
    assert found.result_info.total_count == 10


def test_the_native_list_pages_with_limit_and_cursor_and_still_answers_everything_without(
    gw: RunningGateway,
) -> None:
    everything = gw.http.get(API).json()
    assert [g["slug"] for g in everything["result"]] == ["default", *SLUGS]
    assert everything["next_cursor"] is None
    assert everything["result"][1]["settings"] == GatewaySettings(
        cache_enabled=True, cache_ttl=60
    ).model_dump(mode="json")

    walked: list[str] = []
    cursor: str | None = None
    while True:
        page = gw.http.get(API, params={"limit": 64, **({"cursor": cursor} if cursor else {})}).json()
        walked += [g["slug"] for g in page["result"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["result"]) == 64
    assert walked == ["default", *SLUGS]  # four pages, each gateway once, the last one short

    broken(gw, "zz-broken")
    first = gw.http.get(API, params={"limit": 20})
    assert first.status_code == 200, first.text
    assert [g["slug"] for g in first.json()["result"]] == ["default", *SLUGS[:19]]
    assert first.json()["next_cursor"] == "g018"


def test_a_limited_token_lists_its_gateways_alone(gw: RunningGateway) -> None:
    made = gw.http.post(
        "/api/v1/accounts/local/tokens",
        json={"name": "two", "scopes": ["read"], "gateways": ["g007", "g150"]},
    )
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['token']}"}
    listed = gw.http.get(API, params={"limit": 1}, headers=headers).json()
    assert ([g["slug"] for g in listed["result"]], listed["next_cursor"]) == (["g007"], "g007")
    rest = gw.http.get(API, params={"limit": 1, "cursor": "g007"}, headers=headers).json()
    assert ([g["slug"] for g in rest["result"]], rest["next_cursor"]) == (["g150"], None)
    cf = gw.http.get("/client/v4/accounts/local/ai-gateway/gateways", headers=headers).json()
    assert [g["id"] for g in cf["result"]] == ["g007", "g150"]
    assert cf["result_info"]["total_count"] == 2


def test_a_browsers_cache_buster_is_ignored(gw: RunningGateway) -> None:
    # jQuery's `cache: false` adds `_=<milliseconds>` to every GET.
    page = gw.http.get(API, params={"limit": 2, "_": "1712345678901"})
    assert page.status_code == 200, page.text
    assert [g["slug"] for g in page.json()["result"]] == ["default", SLUGS[0]]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"per_page": "20"}, "pages with limit (1-1000) and cursor"),
        ({"limt": "20"}, "did you mean 'limit'?"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 1000, got '0'"),
        ({"limit": "20", "cursor": "Not A Slug"}, "a gateway slug"),
    ],
)
def test_a_bad_listing_parameter_is_a_400_saying_what_was_meant(
    gw: RunningGateway, query: dict[str, str], says: str
) -> None:
    response = gw.http.get(API, params=query)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]
