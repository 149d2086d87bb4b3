"""The bench report: the placement-floor note says which way the floor points; targets judged on
given figures; the first-byte table."""

from __future__ import annotations

from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult, RoundFigures
from bench.procs import Interference
from bench.report import floor_lines, markdown
from bench.run_result import ScenarioResult
from bench.scenarios import SCENARIOS
from bench.targets import TARGETS, Measurements, Target


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
    results = {"ratelimit-redis": Figures({"gateway.redis_evalsha_per_req": 1.0001})}
    exact = Target("trips", "ratelimit-redis", "gateway.redis_evalsha_per_req", "<=", 1, "EVALSHA")
    shown = Target("trips", "ratelimit-redis", "gateway.redis_evalsha_per_req", "<=", 1, "EVALSHA", digits=2)
    assert exact.evaluate(results) == (1.0001, False)  # one request in flight when wrk stopped
    assert shown.evaluate(results) == (1.0001, True)
    results = {"ratelimit-redis": Figures({"gateway.redis_evalsha_per_req": 1.02})}
    assert shown.evaluate(results) == (1.02, False)  # a real extra trip is still one


def _first_byte_target() -> Target:
    return next(t for t in TARGETS if t.scenario == FIRST_BYTE)


def test_the_first_byte_target_compares_with_the_plain_request() -> None:
    target = _first_byte_target()
    assert target.label == "streaming: added p50 of the first byte ≤ the plain request's added p50"
    faster = {FIRST_BYTE: Figures({"added.first_byte_p50_ms": 0.30, "added.plain_p50_ms": 0.35})}
    assert target.evaluate(faster) == (0.30, True)
    slower = {FIRST_BYTE: Figures({"added.first_byte_p50_ms": 0.41, "added.plain_p50_ms": 0.35})}
    assert target.evaluate(slower) == (0.41, False)
    assert target.evaluate({}) == (None, None)  # the step did not run


def _run(first_byte: float, plain: float) -> RoundFigures:
    figures = {
        "first_byte_p50_ms": first_byte,
        "first_byte_p99_ms": first_byte * 3,
        "stream_p50_ms": first_byte + 0.1,
        "plain_p50_ms": plain,
    }
    return RoundFigures(figures, 300, Interference(1.0, 0.0, 0.0))


def test_the_report_shows_the_first_byte_table_and_its_verdict() -> None:
    result = FirstByteResult(
        {
            "direct": [_run(0.10, 0.20), _run(0.12, 0.22)],
            "gateway": [_run(0.60, 0.50), _run(0.70, 0.54)],
        }
    )
    text = markdown(Measurements([], result), TARGETS, {})
    assert "**First byte of a streamed answer" in text
    assert "| added first byte p50 ms |  | — | +0.540 (+0.500…+0.580) | ≤ added plain_p50 | NOT MET |" in text
    assert "| streaming: added p50 of the first byte ≤ the plain request's added p50 |" in text
    assert "300 streamed and 300 plain requests" in text
    assert markdown(Measurements([]), TARGETS, {}).count("First byte") == 0


def test_a_cache_hit_is_judged_against_the_bare_proxy_as_well_as_direct() -> None:
    against_proxy = [t for t in TARGETS if t.against == "baseline.p50_ms"]
    assert {t.scenario for t in against_proxy} == {"cache-hit", "cache-hit-c32"}
    figures = {"gateway.p50_ms": 0.209, "baseline.p50_ms": 0.277, "direct.p50_ms": 0.034}
    for target in against_proxy:
        assert target.text() == "< baseline p50"
        assert target.evaluate({target.scenario: Figures(figures)}) == (0.209, True)
        slower = {target.scenario: Figures(figures | {"gateway.p50_ms": 0.3})}
        assert target.evaluate(slower) == (0.3, False)
