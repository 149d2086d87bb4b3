"""The first-byte step's figures over rounds, its JSON, and how ``--only`` chooses it."""

from __future__ import annotations

import pytest
from bench.__main__ import chosen
from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult, RoundFigures
from bench.procs import Interference
from bench.scenarios import SCENARIOS


def _run(first_byte: float, plain: float, other_cores: float = 0.0) -> RoundFigures:
    figures = {
        "first_byte_p50_ms": first_byte,
        "first_byte_p99_ms": first_byte * 2,
        "stream_p50_ms": first_byte + 0.1,
        "plain_p50_ms": plain,
    }
    return RoundFigures(figures, 300, Interference(2.0, other_cores, 0.0))


RESULT = FirstByteResult(
    {
        "direct": [_run(0.10, 0.20), _run(0.14, 0.20, 0.3), _run(0.12, 0.21)],
        "baseline": [_run(0.40, 0.50), _run(0.44, 0.52), _run(0.42, 0.48)],
        "gateway": [_run(0.50, 0.70), _run(0.90, 0.75), _run(0.55, 0.72)],
    }
)


def test_figures_are_medians_of_rounds_and_added_is_against_direct() -> None:
    m = RESULT.metrics()
    assert m["gateway.first_byte_p50_ms"] == 0.55
    assert m["gateway.first_byte_p99_ms"] == 1.10
    assert m["added.first_byte_p50_ms"] == pytest.approx(0.55 - 0.12)
    assert m["added.plain_p50_ms"] == pytest.approx(0.72 - 0.20)
    assert m["baseline_added.first_byte_p50_ms"] == pytest.approx(0.42 - 0.12)
    # The range pairs each round's run with the same round's direct run.
    assert m["added.first_byte_p50_ms_min"] == pytest.approx(0.40)
    assert m["added.first_byte_p50_ms_max"] == pytest.approx(0.76)
    assert RESULT.requests == 300
    assert RESULT.interference()["direct"].other_cores == pytest.approx(0.1)


def test_no_direct_run_no_added_figures() -> None:
    alone = FirstByteResult({"gateway": [_run(0.5, 0.7)]})
    assert not any(name.startswith("added.") for name in alone.metrics())


def test_the_json_reads_back_to_the_same_figures() -> None:
    again = FirstByteResult.from_dict(RESULT.to_dict())
    assert again.metrics() == pytest.approx(RESULT.metrics())
    assert again.interference() == RESULT.interference()


def test_only_chooses_the_step_by_name() -> None:
    assert chosen([]) == (list(SCENARIOS), True)
    assert chosen([FIRST_BYTE]) == ([], True)
    scenarios, with_first_byte = chosen([f"sequential,{FIRST_BYTE}"])
    assert ([s.name for s in scenarios], with_first_byte) == (["sequential"], True)
    scenarios, with_first_byte = chosen(["sequential"])
    assert ([s.name for s in scenarios], with_first_byte) == (["sequential"], False)
    with pytest.raises(KeyError):
        chosen(["first_byte"])
