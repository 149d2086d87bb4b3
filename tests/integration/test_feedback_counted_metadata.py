"""A feedback PATCH cannot move a request's spend: the metadata keys a request was counted under
(`user`, `team`, the fields the gateway's rules count by, its token's keys, the gateway's own
`route`) are refused by name, while the client's own keys stay annotatable (security finding 5).

A real gateway on loopback with authentication on, on both storage setups; the OpenAI SDK makes
the traffic, the admin API is called over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI

backend = both_backends
ACCOUNT = "/api/v1/accounts/local"
LOGS = f"{ACCOUNT}/gateways/secure/logs"
USER: list[Any] = [{"role": "user", "content": "rate this answer"}]


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    created = gateway.http.post(f"{ACCOUNT}/gateways", json={"name": "secure"})
    assert created.status_code == 201, created.text
    rule = {"name": "per project", "limit": 1000, "period": 3600, "scope": "metadata.project"}
    gateway.configure("secure", authentication=True, rate_limits=[rule])
    return gateway


def mint(gw: RunningGateway, name: str, scopes: list[str], **fields: Any) -> dict[str, str]:
    body = {"name": name, "scopes": scopes, "gateways": ["secure"], **fields}
    created = gw.http.post(f"{ACCOUNT}/tokens", json=body)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


def ask(gw: RunningGateway, run: dict[str, str], metadata: dict[str, Any]) -> str:
    """One chat completion through `secure` with the `run` token; its log id, once stored."""
    headers = {"cf-aig-authorization": run["Authorization"], "cf-aig-metadata": json.dumps(metadata)}
    with OpenAI(base_url=gw.provider_url("openai", "secure"), api_key="sk-test", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER, extra_headers=headers
        )
    gw.wait_for_logs(1, "secure")
    return raw.headers["cf-aig-log-id"]


def patch(gw: RunningGateway, log_id: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return gw.http.patch(f"{LOGS}/{log_id}", content=json.dumps(body), headers=headers)


def stored(gw: RunningGateway, log_id: str) -> dict[str, Any]:
    metadata: dict[str, Any] = gw.http.get(f"{LOGS}/{log_id}").json()["metadata"]
    return metadata


def spend_by_team(gw: RunningGateway) -> dict[str | None, int]:
    report = gw.http.get(f"{ACCOUNT}/spend", params={"by": "team"})
    assert report.status_code == 200, report.text
    return {row["key"]: row["requests"] for row in report.json()["result"]}


def test_a_feedback_token_cannot_move_a_requests_spend_to_another_team(gw: RunningGateway) -> None:
    run = mint(gw, "search-app", ["run"], metadata={"team": "search", "app": "finder"})
    log_id = ask(gw, run, {"user": "ana", "project": "p1", "topic": "maps"})
    assert stored(gw, log_id) == {
        "team": "search",
        "app": "finder",
        "user": "ana",
        "project": "p1",
        "topic": "maps",
    }
    rater = mint(gw, "rater", ["feedback"])

    # The tester's repro: 200 before, and the cost moved to marketing.
    moved = patch(gw, log_id, {"metadata": {"team": "marketing"}}, rater)

    assert moved.status_code == 403, moved.text
    error = moved.json()["error"]
    assert (error["field"], error["fixed"]) == ("metadata", ["team"])
    assert error["message"].startswith("metadata: 'team' is what this request was counted under")
    assert spend_by_team(gw) == {"search": 1}
    # Removing it, the spend report's other key, a rule's field, the token's own key: the same,
    # whatever the value (an equal one too: which values pass would tell a non-reader the record's).
    for sent, named in [
        ({"team": None}, ["team"]),
        ({"user": "bo"}, ["user"]),
        ({"user": "ana"}, ["user"]),
        ({"project": None, "note": "x"}, ["project"]),
        ({"app": "other", "team": "search"}, ["app", "team"]),
    ]:
        refused = patch(gw, log_id, {"feedback": 1, "metadata": sent}, rater)
        assert refused.status_code == 403, (sent, refused.text)
        assert refused.json()["error"]["fixed"] == named
    # Nothing of a refused PATCH is applied, the thumb included.
    assert gw.http.get(f"{LOGS}/{log_id}").json()["feedback"] is None

    # The client's own keys stay annotatable: added, changed, removed.
    rated = patch(gw, log_id, {"feedback": 1, "metadata": {"reviewer": "bo", "topic": None}}, rater)
    assert rated.status_code == 200, rated.text
    assert patch(gw, log_id, {"metadata": {"reviewer": "cy"}}, rater).status_code == 200
    assert stored(gw, log_id) == {
        "team": "search",
        "app": "finder",
        "user": "ana",
        "project": "p1",
        "reviewer": "cy",
    }

    # `metadata: null` removes what a client may remove, and keeps what the request was counted under.
    cleared = patch(gw, log_id, {"metadata": None}, rater)
    assert cleared.status_code == 200, cleared.text
    assert stored(gw, log_id) == {"team": "search", "app": "finder", "user": "ana", "project": "p1"}
    # An admin token is bound alike: the record is what was counted.
    assert patch(gw, log_id, {"metadata": {"team": "marketing"}}, {}).status_code == 403
    assert spend_by_team(gw) == {"search": 1}


def test_a_routes_entry_survives_a_patch_that_clears_the_metadata(gw: RunningGateway) -> None:
    """`route` and `route_path` (written by the gateway; analytics group by the route) were refused
    by name, but `metadata: null` removed them with the rest."""
    routes = {"alias": {"model": "openai/gpt-4o-mini"}}
    gw.configure("secure", routes=routes)
    run = mint(gw, "router", ["run"])
    answer = gw.http.post(
        "/v1/local/secure/compat/chat/completions",
        json={"model": "dynamic/alias", "messages": USER},
        headers={"cf-aig-authorization": run["Authorization"], "cf-aig-metadata": '{"topic": "x"}'},
    )
    assert answer.status_code == 200, answer.text
    log_id = answer.headers["cf-aig-log-id"]
    gw.wait_for_logs(1, "secure")
    before = stored(gw, log_id)
    assert before["route"].startswith("alias@")
    assert before["topic"] == "x"

    cleared = patch(gw, log_id, {"metadata": None}, mint(gw, "rater", ["feedback"]))

    assert cleared.status_code == 200, cleared.text
    assert stored(gw, log_id) == {key: value for key, value in before.items() if key != "topic"}
