"""The effective threshold under semantic_max_error, from shadow verdicts (no server needed)."""

from __future__ import annotations

from sluicegate.semantic.adaptive import MAX_AGE, AdaptiveThresholds
from tests.conftest import FakeClock

GATEWAY = "local/default"


def test_without_a_bound_or_verdicts_the_configured_threshold_holds() -> None:
    adaptive = AdaptiveThresholds(FakeClock())
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.9
    adaptive.record(GATEWAY, 0.93, agreed=False)
    assert adaptive.threshold(GATEWAY, 0.9, None) == 0.9


def test_disagreements_raise_it_just_above_them_and_agreements_above_bring_it_back() -> None:
    adaptive = AdaptiveThresholds(FakeClock())
    adaptive.record(GATEWAY, 0.934, agreed=False)
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.94
    for _ in range(48):
        adaptive.record(GATEWAY, 0.97, agreed=True)
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.94  # 1 of 49 wrong: still above 2 %
    adaptive.record(GATEWAY, 0.97, agreed=True)
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.9  # 1 of 50: within the bound


def test_it_never_goes_below_the_configured_threshold_nor_above_one() -> None:
    adaptive = AdaptiveThresholds(FakeClock())
    for _ in range(10):
        adaptive.record(GATEWAY, 0.75, agreed=True)
    assert adaptive.threshold(GATEWAY, 0.85, 0.02) == 0.85
    adaptive.record(GATEWAY, 0.99999, agreed=False)
    assert adaptive.threshold(GATEWAY, 0.85, 0.02) == 1.0


def test_verdicts_age_out_and_stay_with_their_gateway() -> None:
    clock = FakeClock()
    adaptive = AdaptiveThresholds(clock)
    adaptive.record(GATEWAY, 0.95, agreed=False)
    assert adaptive.threshold("local/other", 0.9, 0.02) == 0.9
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.96
    clock.advance(MAX_AGE + 1)
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.9


def test_a_small_window_forgets_the_oldest() -> None:
    adaptive = AdaptiveThresholds(FakeClock(), window=3)
    adaptive.record(GATEWAY, 0.92, agreed=False)
    for _ in range(3):
        adaptive.record(GATEWAY, 0.99, agreed=True)
    assert adaptive.threshold(GATEWAY, 0.9, 0.02) == 0.9
