"""Feedback on log records (`PATCH …/logs/{id}`, as Cloudflare's API has it): what it stores, the
400s that name the field, who may give it, the logs API's filters and the analytics summary.

A real gateway on loopback, on embedded and scaled storage; the OpenAI SDK makes the traffic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI

backend = both_backends
API = "/api/v1/accounts/local/gateways"
LOG_ID = "cf-aig-log-id"
USER: list[Any] = [{"role": "user", "content": "rate this answer"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def chats(gw: RunningGateway, count: int, gateway: str = "default", **headers: str) -> list[str]:
    """`count` chat completions through `gateway`; their log ids, once their records are stored."""
    with OpenAI(base_url=gw.provider_url("openai", gateway), api_key="sk-test", max_retries=0) as client:
        ids = [
            client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=USER, extra_headers=headers
            ).headers[LOG_ID]
            for _ in range(count)
        ]
    assert len(gw.wait_for_logs(count, gateway)) >= count
    return ids


def patch(gw: RunningGateway, log_id: str, body: Any, gateway: str = "default", **kw: Any) -> httpx.Response:
    return gw.http.patch(f"{API}/{gateway}/logs/{log_id}", content=json.dumps(body), **kw)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    return error


def token(gw: RunningGateway, *scopes: str, gateways: list[str] | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"name": "-".join(scopes), "scopes": list(scopes)}
    if gateways is not None:
        body["gateways"] = gateways
    created = gw.http.post("/api/v1/accounts/local/tokens", json=body)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


def test_feedback_score_and_metadata_are_stored_and_metadata_merges(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1, **{"cf-aig-metadata": json.dumps({"user": "ana", "topic": "maps"})})

    answered = patch(
        gw, log_id, {"feedback": 1, "score": 87.5, "metadata": {"reviewer": "bo", "topic": None}}
    )

    assert answered.status_code == 200, answered.text
    assert answered.json()["id"] == log_id
    stored = gw.http.get(f"{API}/default/logs/{log_id}").json()
    assert (stored["feedback"], stored["score"]) == (1, 87.5)
    # Merged: the request's own metadata stays, a key sent as null goes.
    assert stored["metadata"] == {"user": "ana", "reviewer": "bo"}
    # The answer carries no bodies, nor what is said of them (their sizes, whether they were cut).
    bodies = ("request_headers", "request_body", "response_body", "request_body_size", "response_body_size")
    bodies += ("request_body_complete", "response_body_complete")
    assert answered.json() == {**stored, **dict.fromkeys(bodies)}

    # Fields not sent stay; null clears one.
    assert patch(gw, log_id, {"score": None}).status_code == 200
    stored = gw.http.get(f"{API}/default/logs/{log_id}").json()
    assert (stored["feedback"], stored["score"], stored["metadata"]) == (
        1,
        None,
        {"user": "ana", "reviewer": "bo"},
    )
    # null removes every entry but those the request was counted under (`user`: spend reports).
    assert patch(gw, log_id, {"feedback": 0, "metadata": None}).status_code == 200
    stored = gw.http.get(f"{API}/default/logs/{log_id}").json()
    assert (stored["feedback"], stored["metadata"]) == (0, {"user": "ana"})


def test_concurrent_metadata_patches_all_land(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1)
    keys = [f"k{n}" for n in range(12)]

    with ThreadPoolExecutor(len(keys)) as pool:
        statuses = list(pool.map(lambda key: patch(gw, log_id, {"metadata": {key: key}}).status_code, keys))

    assert statuses == [200] * len(keys)
    assert gw.http.get(f"{API}/default/logs/{log_id}").json()["metadata"] == {key: key for key in keys}


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"feedback": 2}, "feedback", "must be -1 (thumbs down), 0 (not evaluated) or 1 (thumbs up), got 2"),
        ({"feedback": True}, "feedback", "got True"),
        ({"feedback": "1"}, "feedback", "got '1'"),
        ({"feedback": 1.0}, "feedback", "got 1.0"),
        ({"score": 101}, "score", "less than or equal to 100"),
        ({"score": -0.5}, "score", "greater than or equal to 0"),
        ({"score": "90"}, "score", "valid number"),
        ({"score": True}, "score", "valid number"),
        ({"metadata": {"tags": ["a", "b"]}}, "metadata", "entry 'tags' must be a string, number or boolean"),
        ({"metadata": ["a"]}, "metadata", "valid dictionary"),
        ({"metadata": {"note": "x" * 1025}}, "metadata", "longer than 1024 characters"),
        ({"feedbak": 1}, "feedbak", "did you mean 'feedback'?"),
        ({}, "", "give at least one of feedback (-1, 0 or 1), score (0-100) or metadata"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(gw: RunningGateway, body: Any, field: str, says: str) -> None:
    (log_id,) = chats(gw, 1)

    error = error_of(patch(gw, log_id, body), 400)

    assert error["field"] == field
    assert error["message"].startswith(f"{field or 'body'}: ")
    assert says in error["message"], error["message"]
    assert gw.http.get(f"{API}/default/logs/{log_id}").json()["feedback"] is None


def test_metadata_is_bounded_after_merging(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1, **{"cf-aig-metadata": json.dumps({f"h{n}": n for n in range(5)})})
    assert patch(gw, log_id, {"metadata": {f"p{n}": n for n in range(15)}}).status_code == 200

    error = error_of(patch(gw, log_id, {"metadata": {"one": "more"}}), 400)

    assert error["field"] == "metadata"
    assert "would hold 21 entries, at most 20" in error["message"]
    # Removing one makes room, in the same request.
    assert patch(gw, log_id, {"metadata": {"one": "more", "h0": None}}).status_code == 200


def test_bad_json_and_unknown_records_are_refused(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1)
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201

    assert (
        "not valid JSON"
        in error_of(gw.http.patch(f"{API}/default/logs/{log_id}", content=b"{"), 400)["message"]
    )
    assert error_of(patch(gw, "0" * 32, {"feedback": 1}), 404)["message"].startswith(
        f"no log {'0' * 32!r} in gateway 'default'. "  # then why an id may name no record
    )
    # A record is reached through its own gateway only.
    assert error_of(patch(gw, log_id, {"feedback": 1}, gateway="other"), 404)


def test_giving_feedback_needs_the_feedback_scope(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1)
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201

    for scopes in (("read",), ("run",), ("purge_all",)):
        refused = error_of(patch(gw, log_id, {"feedback": -1}, headers=token(gw, *scopes)), 403)
        assert refused["message"] == "this token lacks the 'feedback' scope"
    elsewhere = token(gw, "feedback", gateways=["other"])
    assert (
        "limited to gateways 'other'"
        in error_of(patch(gw, log_id, {"feedback": -1}, headers=elsewhere), 403)["message"]
    )

    allowed = patch(gw, log_id, {"feedback": -1}, headers=token(gw, "feedback", gateways=["default"]))

    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["feedback"] == -1
    # Giving feedback is not reading the logs.
    assert gw.http.get(f"{API}/default/logs", headers=token(gw, "feedback")).status_code == 403


def test_the_logs_api_filters_by_feedback_and_score(gw: RunningGateway) -> None:
    ids = chats(gw, 6)
    given = [(1, 90), (1, 40), (-1, 10), (0, None), (None, 75)]  # the last record gets nothing
    for log_id, (feedback, score) in zip(ids, given, strict=False):
        assert patch(gw, log_id, {"feedback": feedback, "score": score}).status_code == 200

    def listed(**params: Any) -> list[str]:
        return [r["id"] for r in reversed(gw.logs(**params))]

    assert listed(feedback=1) == ids[:2]
    assert listed(feedback=-1) == [ids[2]]
    assert listed(feedback=0) == [ids[3]]
    assert listed(score_min=40) == [ids[0], ids[1], ids[4]]
    assert listed(score_max=40) == [ids[1], ids[2]]
    assert listed(score_min=40, score_max=80, feedback=1) == [ids[1]]
    assert listed() == ids


@pytest.mark.parametrize(
    ("params", "param", "says"),
    [
        ({"feedback": "up"}, "feedback", "got 'up'; for 'up' send feedback=1"),
        ({"feedback": "thumbs-down"}, "feedback", "must be -1 (thumbs down), 0 (not evaluated) or 1"),
        ({"feedback": "2"}, "feedback", "got '2'"),
        ({"score_min": "high"}, "score_min", "score_min must be a number from 0 to 100, got 'high'"),
        ({"score_max": "101"}, "score_max", "got '101'"),
        ({"score_min": "80", "score_max": "20"}, "score_min", "score_min (80) is above score_max (20)"),
    ],
)
def test_bad_feedback_filters_are_400s_naming_the_parameter(
    gw: RunningGateway, params: dict[str, str], param: str, says: str
) -> None:
    error = error_of(gw.http.get(f"{API}/default/logs", params=params), 400)
    assert error["param"] == param
    assert says in error["message"], error["message"]


def test_analytics_sum_up_the_feedback_of_the_range(gw: RunningGateway) -> None:
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201
    started = time.time()
    ids = chats(gw, 6)
    (other,) = chats(gw, 1, gateway="other")
    for log_id, body in zip(
        ids,
        [
            {"feedback": 1, "score": 90},
            {"feedback": 1},
            {"feedback": -1, "score": 20},
            {"feedback": 0},
            {"score": 40},
        ],
        strict=False,
    ):
        assert patch(gw, log_id, body).status_code == 200
    assert patch(gw, other, {"feedback": -1, "score": 100}, gateway="other").status_code == 200

    def summary(**params: Any) -> dict[str, Any]:
        window = {"from": started - 60, "to": time.time() + 60}
        answer = gw.http.get("/api/v1/accounts/local/analytics", params=window | params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["feedback"]
        return found

    assert summary(gateway="default") == {
        "negative": 1, "neutral": 1, "positive": 2, "scored": 3, "mean_score": pytest.approx(50.0),
    }  # fmt: skip
    assert summary() == {
        "negative": 2, "neutral": 1, "positive": 2, "scored": 4, "mean_score": pytest.approx(62.5),
    }  # fmt: skip
    assert summary(gateway="other", model="gpt-4o") == {
        "negative": 0, "neutral": 0, "positive": 0, "scored": 0, "mean_score": None,
    }  # fmt: skip
    # A token limited to a gateway sums up only that gateway's feedback.
    limited = token(gw, "read", gateways=["other"])
    answer = gw.http.get("/api/v1/accounts/local/analytics", params={"from": started - 60}, headers=limited)
    assert answer.json()["feedback"] == {
        "negative": 1,
        "neutral": 0,
        "positive": 0,
        "scored": 1,
        "mean_score": 100.0,
    }


def test_metadata_the_gateway_writes_cannot_be_set_by_a_client(gw: RunningGateway) -> None:
    """`guardrails`, `route` and `route_path` are written by the gateway: a client setting them
    would fake guardrail findings or a route in the logs, the dashboard and analytics."""
    log_id = chats(gw, 1)[0]
    error = error_of(patch(gw, log_id, {"metadata": {"guardrails": "request:block:email"}}), 400)
    assert "'guardrails' is written by the gateway" in error["message"]
    url = f"{gw.url}/v1/local/default/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    faked = httpx.post(url, json=body, headers={"cf-aig-metadata": '{"route": "premium", "user": "x"}'})
    assert faked.status_code == 400
    assert faked.json()["error"]["reserved"] == ["route"]


def test_a_feedback_only_token_is_answered_what_it_sent_not_the_record(gw: RunningGateway) -> None:
    (log_id,) = chats(gw, 1, **{"cf-aig-metadata": json.dumps({"user": "ana", "team": "search"})})
    rater = token(gw, "feedback")

    # `{"metadata": {}}` changes nothing: the answer was the whole record (model, tokens, cost...).
    probe = patch(gw, log_id, {"metadata": {}}, headers=rater)
    rated = patch(gw, log_id, {"feedback": 1, "metadata": {"reviewer": "bo"}}, headers=rater)

    assert probe.status_code == rated.status_code == 200, probe.text + rated.text
    assert probe.json() == {"id": log_id, "metadata": {}}
    assert rated.json() == {"id": log_id, "feedback": 1, "metadata": {"reviewer": "bo"}}
    stored = gw.http.get(f"{API}/default/logs/{log_id}").json()
    assert (stored["feedback"], stored["metadata"]) == (
        1,
        {"user": "ana", "team": "search", "reviewer": "bo"},
    )
    # A token that may read the record is answered the record, as before.
    both = patch(gw, log_id, {"score": 70}, headers=token(gw, "feedback", "read"))
    assert both.json()["model"] == "gpt-4o-mini"
    assert both.json()["metadata"] == stored["metadata"]


def test_a_feedback_only_token_is_refused_a_full_merge_without_learning_the_record(
    gw: RunningGateway,
) -> None:
    (log_id,) = chats(gw, 1, **{"cf-aig-metadata": json.dumps({f"h{n}": n for n in range(5)})})
    assert patch(gw, log_id, {"metadata": {f"p{n}": n for n in range(15)}}).status_code == 200  # 20 now
    rater = token(gw, "feedback")
    full = "metadata: this change would take the record past 20 entries; remove some by sending them as null"

    # The count ("would hold 21" for a new key, "22" for two, "21" again beside a key it holds)
    # told how many entries the record has and which keys.
    refusals = [
        error_of(patch(gw, log_id, {"metadata": sent}, headers=rater), 400)
        for sent in ({"one": 1}, {"one": 1, "two": 2}, {"one": 1, "p0": 9}, {"one": 1, "h0": "x"})
    ]

    assert (
        refusals
        == [{"message": full, "type": "sluicegate_error", "code": "bad_request", "field": "metadata"}] * 4
    )
    # A reader still gets the count.
    counted = error_of(
        patch(gw, log_id, {"metadata": {"one": 1}}, headers=token(gw, "feedback", "read")), 400
    )
    assert "would hold 21 entries, at most 20" in counted["message"]
    # Removing one makes room, as for anyone.
    assert patch(gw, log_id, {"metadata": {"one": 1, "h0": None}}, headers=rater).status_code == 200
