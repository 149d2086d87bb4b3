"""Two editors of one gateway's settings no longer overwrite each other: every answer about a
gateway carries its `ETag`, and a change sent with `If-Match` is made only if the gateway is still
at that version, else a 412 that says it changed meanwhile and gives the ETag it has now. Without
`If-Match` a change is made as before. Native and Cloudflare APIs, both backends, over loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway, both_backends

backend = both_backends
GATEWAYS = "/api/v1/accounts/local/gateways"
ONE = f"{GATEWAYS}/default"
CF = "/client/v4/accounts/local/ai-gateway/gateways/default"
RULES = {"rate_limits": [{"name": "rpm", "limit": 5, "period": 60}]}
ROUTES = {"routes": {"support": {"fallback": [{"model": "openai/claude-sonnet-4-6"}]}}}


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway()


def patch(gw: RunningGateway, settings: dict[str, Any], if_match: str | None) -> httpx.Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    return gw.http.patch(ONE, json={"settings": settings}, headers=headers)


def test_the_second_of_two_editors_who_read_one_version_is_refused_and_loses_nothing(
    gw: RunningGateway,
) -> None:
    first, second = gw.http.get(ONE), gw.http.get(ONE)  # two editors (or two cards) read the gateway
    tag = first.headers["ETag"]
    assert tag == second.headers["ETag"] == first.json()["etag"]
    assert [g["etag"] for g in gw.http.get(GATEWAYS).json()["result"] if g["slug"] == "default"] == [tag]

    saved = patch(gw, RULES, tag)  # the first saves its rate limits
    assert saved.status_code == 200, saved.text
    now = saved.headers["ETag"]
    assert now != tag
    assert saved.json()["etag"] == now

    refused = patch(gw, ROUTES, tag)  # the second saves its routes against what it read
    assert refused.status_code == 412, refused.text
    error = refused.json()["error"]
    assert error["code"] == "precondition_failed"
    assert "changed since you read it" in error["message"]
    assert "nothing was saved" in error["message"]
    assert (error["etag"], refused.headers["ETag"]) == (now, now)
    stored = gw.http.get(ONE).json()
    assert (stored["settings"]["rate_limits"][0]["name"], stored["settings"]["routes"]) == ("rpm", {})
    assert stored["etag"] == now

    again = patch(gw, ROUTES, now)  # read again, sent again: both changes stand
    assert again.status_code == 200, again.text
    settings = again.json()["settings"]
    assert (settings["rate_limits"][0]["name"], list(settings["routes"])) == ("rpm", ["support"])


def test_without_if_match_a_change_is_made_as_before_and_star_asks_only_that_it_exists(
    gw: RunningGateway,
) -> None:
    tag = gw.http.get(ONE).headers["ETag"]
    blind = patch(gw, {"cache_ttl": 120}, None)
    assert blind.status_code == 200, blind.text
    assert blind.headers["ETag"] != tag
    starred = patch(gw, {"cache_ttl": 240}, "*")
    assert starred.status_code == 200, starred.text
    assert starred.json()["settings"]["cache_ttl"] == 240
    listed = patch(gw, {"cache_ttl": 300}, f'"nope", {starred.headers["ETag"]}')  # any of a list
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize(
    ("sent", "status"),
    [("W/{tag}", 412), ("{bare}", 400), ('{tag} "x', 400)],
    ids=["weak", "unquoted", "unterminated"],
)
def test_a_weak_or_malformed_if_match_changes_nothing(gw: RunningGateway, sent: str, status: int) -> None:
    tag = gw.http.get(ONE).headers["ETag"]
    answer = patch(gw, {"cache_ttl": 120}, sent.format(tag=tag, bare=tag.strip('"')))
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json()["error"]["param"] == "If-Match"
    assert gw.http.get(ONE).headers["ETag"] == tag


def test_a_gateway_created_again_does_not_match_the_tag_of_the_one_before(gw: RunningGateway) -> None:
    created = gw.http.post(GATEWAYS, json={"name": "Team", "slug": "team"})
    assert created.status_code == 201
    old = created.headers["ETag"]
    assert gw.http.delete(f"{GATEWAYS}/team").status_code == 204
    assert gw.http.post(GATEWAYS, json={"name": "Team", "slug": "team"}).status_code == 201
    answer = gw.http.patch(f"{GATEWAYS}/team", json={"name": "Mine"}, headers={"If-Match": old})
    assert answer.status_code == 412, answer.text


def test_of_changes_sent_at_once_with_the_same_if_match_one_is_made(gw: RunningGateway) -> None:
    tag = gw.http.get(ONE).headers["ETag"]
    editors = 8
    start = threading.Barrier(editors)

    def save(ttl: int) -> int:
        start.wait()
        return patch(gw, {"cache_ttl": ttl}, tag).status_code

    with ThreadPoolExecutor(editors) as pool:
        statuses = list(pool.map(save, range(100, 100 + editors)))
    assert sorted(statuses) == [200] + [412] * (editors - 1)
    winner = 100 + statuses.index(200)
    assert gw.http.get(ONE).json()["settings"]["cache_ttl"] == winner


def test_cloudflares_update_honours_if_match_too(gw: RunningGateway) -> None:
    read = gw.http.get(CF)
    tag = read.headers["ETag"]
    assert tag == gw.http.get(ONE).headers["ETag"]
    assert patch(gw, RULES, tag).status_code == 200  # another editor, through the native API

    refused = gw.http.put(CF, json={"cache_ttl": 60}, headers={"If-Match": tag})
    assert refused.status_code == 412, refused.text
    body = refused.json()
    assert body["success"] is False
    assert "changed since you read it" in body["errors"][0]["message"]
    current = refused.headers["ETag"]
    saved = gw.http.put(CF, json={"cache_ttl": 60}, headers={"If-Match": current})
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] != current
    assert gw.http.get(ONE).json()["settings"]["rate_limits"][0]["name"] == "rpm"


def test_the_routes_api_honours_the_gateways_if_match(gw: RunningGateway) -> None:
    tag = gw.http.get(ONE).headers["ETag"]
    assert patch(gw, RULES, tag).status_code == 200
    node = ROUTES["routes"]["support"]
    refused = gw.http.put(f"{ONE}/routes/support", json=node, headers={"If-Match": tag})
    assert refused.status_code == 412, refused.text
    assert gw.http.get(ONE).json()["settings"]["routes"] == {}
    saved = gw.http.put(f"{ONE}/routes/support", json=node, headers={"If-Match": refused.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    assert list(gw.http.get(ONE).json()["settings"]["routes"]) == ["support"]
