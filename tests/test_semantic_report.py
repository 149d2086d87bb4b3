"""The what-if table from grouped records (`semantic_report.build_report`), without a database."""

from __future__ import annotations

import pytest

from sluicegate.semantic_report import Bin, build_report, wilson_low


def test_hits_at_a_threshold_are_the_verified_candidates_that_reach_it() -> None:
    bins = [
        Bin("semantic", None, records=3),  # no candidate
        Bin("semantic", 95, records=2, verified=1, savings_usd=0.02, hits=1, hit_savings_usd=0.02),
        Bin("semantic", 80, records=4, verified=3, unverified=1, savings_usd=0.03),
        Bin("shadow", 95, records=2, checked=2, agreed=1),
    ]
    report = build_report("local", 0, 10, None, bins)
    rows = {row.threshold: row for row in report.thresholds}
    assert (report.lookups, report.with_candidate, report.hits, report.saved_usd) == (9, 6, 1, 0.02)
    assert (rows[0.95].hits, rows[0.96].hits, rows[0.8].hits, rows[0.7].hits) == (1, 0, 4, 4)
    assert rows[0.8].savings_usd == pytest.approx(0.05)
    assert rows[0.8].unverified == 1
    assert rows[0.8].hit_rate == pytest.approx(4 / 9)
    assert (rows[0.9].shadow_checked, rows[0.9].precision) == (2, 0.5)
    assert rows[0.96].precision is None
    assert report.shadow.requests == 2
    assert report.shadow.precision == 0.5


def test_the_precision_interval_narrows_with_more_checks() -> None:
    assert wilson_low(0, 0) is None
    few, many = wilson_low(19, 20), wilson_low(1900, 2000)
    assert few is not None
    assert many is not None
    assert few < many < 0.95
    assert wilson_low(10, 10) == pytest.approx(0.7225, abs=1e-3)
