"""The bench report's placement-floor note says which way the floor points."""

from __future__ import annotations

from bench.report import floor_lines
from bench.runner import ScenarioResult
from bench.scenarios import SCENARIOS


class Figures(ScenarioResult):
    """A scenario result with given figures instead of measured runs."""

    def __init__(self, figures: dict[str, float]) -> None:
        super().__init__(scenario=SCENARIOS[0])
        self.figures = figures

    def metrics(self) -> dict[str, float]:
        return self.figures


def test_a_slower_floor_is_the_hop_a_proxy_pays() -> None:
    (line,) = floor_lines([Figures({"floor.p50_ms": 0.174, "direct.p50_ms": 0.066})])
    assert "+0.108 ms for the hop across cores" in line


def test_a_faster_floor_says_the_direct_path_is_the_slower_one() -> None:
    (line,) = floor_lines([Figures({"floor.p50_ms": 0.152, "direct.p50_ms": 0.187})])
    assert "-0.035 ms" in line
    assert "the direct path is the slower one" in line
    assert "+-" not in line


def test_no_floor_no_note() -> None:
    assert floor_lines([Figures({"direct.p50_ms": 0.187})]) == []
