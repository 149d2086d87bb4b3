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


def test_a_count_per_request_is_judged_as_the_table_shows_it() -> None:
    from bench.report import Target

    results = {"ratelimit-redis": Figures({"gateway.redis_evalsha_per_req": 1.0001})}
    exact = Target("trips", "ratelimit-redis", "gateway.redis_evalsha_per_req", "<=", 1, "EVALSHA")
    shown = Target("trips", "ratelimit-redis", "gateway.redis_evalsha_per_req", "<=", 1, "EVALSHA", digits=2)
    assert exact.evaluate(results) == (1.0001, False)  # one request in flight when wrk stopped
    assert shown.evaluate(results) == (1.0001, True)
    results = {"ratelimit-redis": Figures({"gateway.redis_evalsha_per_req": 1.02})}
    assert shown.evaluate(results) == (1.02, False)  # a real extra trip is still one
