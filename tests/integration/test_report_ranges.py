"""How long a range the analytics and spend reports' series take, through a gateway on loopback:
720 intervals, a range of exactly that answered, and a longer one a 400 naming what to change (the
interval, when a wider one fits; else the range's start) and the longest range allowed."""

# ruff: noqa: F811  (the fixture is test_report_params')

from __future__ import annotations

import time
from typing import Any

from tests.conftest import RunningGateway
from tests.integration.test_report_params import ACCOUNT, gw, refusal  # noqa: F401  (gw: a fixture)

HOUR, DAY = 3600, 86400
ODD = time.time() // DAY * DAY + 1234.5  # today, on no interval's boundary: minute rows are kept


def test_a_range_too_long_for_the_widest_interval_names_from_and_the_longest_range(
    gw: RunningGateway,
) -> None:
    message = refusal(gw.http.get(f"{ACCOUNT}/analytics", params={"from": "0"}), "from")
    assert "by day (the widest interval) spans at most 720 days" in message
    assert "ask a from at most 720 days before to" in message
    asked_hour: dict[str, Any] = {"from": "0", "to": str(1e9), "interval": "hour"}
    message = refusal(gw.http.get(f"{ACCOUNT}/analytics", params=asked_hour), "from")
    assert "by hour spans at most 720 hours (30 days), by day (the widest) 720 days" in message
    spend = refusal(gw.http.get(f"{ACCOUNT}/spend", params={"since": "0"}), "since")
    assert "by day (the widest interval) spans at most 720 days" in spend
    assert "a since at most 720 days before until" in spend


def test_a_range_a_wider_interval_fits_names_the_interval(gw: RunningGateway) -> None:
    too_long: dict[str, Any] = {"from": ODD - 721 * HOUR, "to": ODD, "interval": "hour"}
    message = refusal(gw.http.get(f"{ACCOUNT}/analytics", params=too_long), "interval")
    assert message.startswith("from is 721 hours (30 days) before to: a series by hour spans at most 720")
    assert "720 hours (30 days); ask interval=day, or a from at most 720 hours (30 days) before to" in message
    minutes = refusal(gw.http.get(f"{ACCOUNT}/analytics", params={"interval": "minute"}), "interval")
    assert "from is 1440 minutes (24 hours) before to" in minutes
    assert "at most 720 minutes (12 hours); ask interval=hour" in minutes


def test_a_range_of_exactly_the_limit_is_answered(gw: RunningGateway) -> None:
    month: dict[str, Any] = {"from": ODD - 720 * HOUR, "to": ODD, "interval": "hour"}
    answer = gw.http.get(f"{ACCOUNT}/analytics", params=month)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["series"]) == 721  # the cut first and last hours are both listed
    # 30 days back from the client's clock: the gateway's `now` is a moment later.
    recent = gw.http.get(f"{ACCOUNT}/analytics", params={"from": time.time() - 30 * DAY, "interval": "hour"})
    assert recent.status_code == 200, recent.text
    minutes: dict[str, Any] = {"from": ODD - 720 * 60, "to": ODD, "interval": "minute"}
    assert gw.http.get(f"{ACCOUNT}/analytics", params=minutes).status_code == 200
    spend = gw.http.get(f"{ACCOUNT}/spend", params={"since": "30d", "interval": "hour"})
    assert spend.status_code == 200, spend.text
