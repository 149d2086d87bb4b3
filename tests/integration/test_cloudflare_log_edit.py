"""Cloudflare's log edit (`PATCH …/logs/{id}`) and its `feedback` filter, through the official SDK.

The same gateway, fakes and SDK clients as test_cloudflare_api.py; each test runs on embedded
and on scaled storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cloudflare import BadRequestError, Cloudflare, NotFoundError, PermissionDeniedError

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.integration.test_cloudflare_api import ACCOUNT, API, CF, REQUIRED, chat, error_of, token
from tests.integration.test_cloudflare_api import cloudflare as cloudflare  # the fixtures
from tests.integration.test_cloudflare_api import fake as fake
from tests.integration.test_cloudflare_api import gw as gw


def rated_three(gw: RunningGateway) -> list[str]:
    """Three requests through `default`, their log ids oldest first, once their records are stored."""
    ids = [
        chat(gw, "default", **{"cf-aig-metadata": json.dumps({"user": f"u{n}"})}).headers["cf-aig-log-id"]
        for n in range(3)
    ]
    gw.wait_for_logs(3)
    return ids


def test_feedback_is_edited_through_the_sdk_and_shown_and_filtered_in_the_logs(
    gw: RunningGateway, cloudflare: Callable[..., Cloudflare]
) -> None:
    cf = cloudflare()
    liked, disliked, unrated = rated_three(gw)

    edited: Any = cf.ai_gateway.logs.edit(
        liked, account_id=ACCOUNT, gateway_id="default", feedback=1, score=87.5, metadata={"reviewer": "bo"}
    )
    assert (edited["id"], edited["feedback"], edited["score"]) == (liked, 1, 87.5)
    assert json.loads(edited["metadata"]) == {"user": "u0", "reviewer": "bo"}  # merged, as natively
    # The SDK types feedback as a number: -1.0 is the thumb -1.
    cf.ai_gateway.logs.edit(disliked, account_id=ACCOUNT, gateway_id="default", feedback=-1.0)

    native = gw.http.get(f"{API}/default/logs/{liked}").json()
    assert (native["feedback"], native["score"], native["metadata"]) == (
        1,
        87.5,
        {"user": "u0", "reviewer": "bo"},
    )
    detail = cf.ai_gateway.logs.get(disliked, account_id=ACCOUNT, gateway_id="default").to_dict()
    assert (detail["feedback"], detail["score"]) == (-1, None)
    shown = {r.id: r.to_dict() for r in cf.ai_gateway.logs.list("default", account_id=ACCOUNT)}
    assert {i: (r["feedback"], r["score"]) for i, r in shown.items()} == {
        liked: (1, 87.5),
        disliked: (-1, None),
        unrated: (None, None),
    }

    def ids(**params: Any) -> list[str]:
        return [r.id for r in cf.ai_gateway.logs.list("default", account_id=ACCOUNT, **params)]

    def where(operator: str, *values: Any) -> list[str]:
        return ids(filters=[{"key": "feedback", "operator": operator, "value": list(values)}])

    assert ids(feedback=1) == [liked]
    assert ids(feedback=0) == []  # nobody said "not evaluated"
    assert where("eq", -1) == [disliked]
    # The SDK drops a null from the query; as a JSON array, `filters` carries it: nobody rated it.
    unrated_only = [{"key": "feedback", "operator": "eq", "value": [None]}]
    listed = gw.http.get(f"{CF}/default/logs", params={"filters": json.dumps(unrated_only)}).json()
    assert [r["id"] for r in listed["result"]] == [unrated]
    assert where("neq", -1) == [unrated, liked]
    assert where("gt", 0) == [liked]
    assert ids(filters=[{"key": "feedback", "operator": "eq", "value": [1, -1]}], order_by="created_at") == [
        disliked,
        liked,
    ]
    deleted = cf.ai_gateway.logs.delete(
        "default", account_id=ACCOUNT, filters=[{"key": "feedback", "operator": "eq", "value": [-1]}]
    )
    assert deleted.success is True
    assert ids() == [unrated, liked]


def test_bad_edits_and_feedback_filters_are_refused_with_the_native_reason(
    gw: RunningGateway, cloudflare: Callable[..., Cloudflare]
) -> None:
    cf = cloudflare()
    log_id = rated_three(gw)[0]
    with pytest.raises(BadRequestError) as half:
        cf.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", feedback=0.5)
    error = error_of(half.value)
    assert (error["code"], error["source"]) == (1001, {"pointer": "/feedback"})
    assert "must be -1 (thumbs down), 0 (not evaluated) or 1 (thumbs up), got 0.5" in error["message"]
    with pytest.raises(BadRequestError) as high:
        cf.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", score=101)
    assert error_of(high.value)["message"] == "score: Input should be less than or equal to 100"
    with pytest.raises(BadRequestError) as empty:
        cf.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default")
    assert (
        "give at least one of feedback (-1, 0 or 1), score (0-100) or metadata"
        in (error_of(empty.value)["message"])
    )
    with pytest.raises(NotFoundError) as missing:
        cf.ai_gateway.logs.edit("0" * 32, account_id=ACCOUNT, gateway_id="default", feedback=1)
    error = error_of(missing.value)
    assert (set(error), error["code"]) == ({"code", "message"}, 1002)
    assert error["message"].startswith(f"no log {'0' * 32!r} in gateway 'default'. ")

    word = gw.http.get(f"{CF}/default/logs", params={"feedback": "up"})
    assert word.status_code == 400
    assert error_of(word)["message"].endswith("got 'up'; for 'up' send feedback=1")
    in_filter = gw.http.get(
        f"{CF}/default/logs",
        params=[("filters.key", "feedback"), ("filters.operator", "eq"), ("filters.value", "good")],
    )
    assert "for 'good' send feedback=1" in error_of(in_filter)["message"]
    assert gw.http.get(f"{API}/default/logs/{log_id}").json()["feedback"] is None  # nothing stored


def test_log_edit_needs_the_feedback_scope_and_the_gateway(
    gw: RunningGateway, cloudflare: Callable[..., Cloudflare]
) -> None:
    cloudflare().ai_gateway.create(account_id=ACCOUNT, id="other", **REQUIRED)
    log_id = rated_three(gw)[0]

    rater = cloudflare(token(gw, "feedback"))
    answered = rater.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", score=40)
    assert answered == {"id": log_id, "score": 40}  # what it sent: `feedback` does not read the record
    assert gw.http.get(f"{API}/default/logs/{log_id}").json()["score"] == 40
    with pytest.raises(PermissionDeniedError) as reading:
        list(rater.ai_gateway.logs.list("default", account_id=ACCOUNT))
    assert error_of(reading.value) == {"code": 10000, "message": "this token lacks the 'read' scope"}

    for scopes in (("read",), ("run",)):
        with pytest.raises(PermissionDeniedError) as denied:
            cloudflare(token(gw, *scopes)).ai_gateway.logs.edit(
                log_id, account_id=ACCOUNT, gateway_id="default", feedback=1
            )
        assert error_of(denied.value) == {"code": 10000, "message": "this token lacks the 'feedback' scope"}
    elsewhere = cloudflare(token(gw, "feedback", gateways=["other"]))
    with pytest.raises(PermissionDeniedError) as limited:
        elsewhere.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", feedback=1)
    assert error_of(limited.value)["message"] == "this token is limited to gateways 'other', not 'default'"
    assert gw.http.get(f"{API}/default/logs/{log_id}").json()["feedback"] is None


def test_a_full_merge_refused_to_a_feedback_only_token_does_not_count_the_record(
    gw: RunningGateway, cloudflare: Callable[..., Cloudflare]
) -> None:
    log_id = rated_three(gw)[0]  # its metadata: {"user": "u0"}
    filled = {f"k{n}": n for n in range(19)}
    cloudflare().ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", metadata=filled)

    rater = cloudflare(token(gw, "feedback"))
    with pytest.raises(BadRequestError) as full:
        rater.ai_gateway.logs.edit(log_id, account_id=ACCOUNT, gateway_id="default", metadata={"more": 1})

    assert error_of(full.value)["message"] == (
        "metadata: this change would take the record past 20 entries; remove some by sending them as null"
    )
