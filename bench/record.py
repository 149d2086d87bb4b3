"""The JSON record of a run (`bench/results/latest.json`): written after a run with the targets'
verdicts, the machine and the settings, and read back into scenario results for
`python -m bench.report`."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from bench.machine import git_revision
from bench.procs import Interference
from bench.run_result import RunResult, ScenarioResult
from bench.scenarios import SCENARIOS
from bench.targets import REFERENCE_BASELINE_RPS, SCALE_BASIS, Measurements, Target
from bench.wrk import WrkResult

RESULTS_DIR = Path(__file__).with_name("results")


def to_json(
    *,
    measured: Measurements,
    targets: list[Target],
    machine: dict[str, Any],
    settings: dict[str, Any],
    error: str | None,
) -> dict[str, Any]:
    by_name = measured.by_name()
    scale = float(settings.get("scale", 1.0))
    target_rows = []
    for t in targets:
        value, met = t.evaluate(by_name)
        target_rows.append(
            {
                "label": t.label,
                "scenario": t.scenario,
                "metric": t.metric,
                "op": t.op,
                "threshold": t.threshold,
                "unit": t.unit,
                "value": None if value is None else round(value, 4),
                "met": met,
            }
        )
        scaled = t.evaluate_scaled(by_name)
        if scaled is not None:
            target_rows[-1]["against"] = t.against
            target_rows[-1]["scaled_by_baseline"] = {
                "kind": t.scaled,
                "reference_baseline_rps": REFERENCE_BASELINE_RPS,
                "basis": SCALE_BASIS[t.scaled or ""][0],
                "basis_here": _rounded(scaled.basis, 4),
                "factor": round(scaled.factor, 4),
                "threshold_here": _rounded(scaled.threshold_here, 4),
                "met": scaled.met,
                "text": scaled.text(),
            }
        elif t.against is not None:
            target_rows[-1]["against"] = t.against
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "machine": machine,
        "settings": settings,
        "scenarios": [r.to_dict(scale) for r in measured.scenarios],
        "first_byte": None if measured.first_byte is None else measured.first_byte.to_dict(),
        "targets": target_rows,
        "error": error,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def write_json(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    return path


# --- reading a run back -----------------------------------------------------------------------------


def _run_from_dict(data: dict[str, Any]) -> RunResult:
    names = {f.name for f in fields(WrkResult)}
    wrk = WrkResult(**{k: v for k, v in data.items() if k in names})
    noise = data.get("interference", {})
    interference = Interference(
        float(noise.get("wall_s", wrk.duration_s)),
        float(noise.get("other_cores", 0.0)),
        float(noise.get("steal_cores", 0.0)),
    )
    return RunResult(
        data["target"],
        data["url"],
        wrk,
        {k: float(v) for k, v in data.get("cpu_s", {}).items()},
        interference,
        data.get("upstream_requests"),
        data.get("redis_calls"),
    )


def results_from_json(data: dict[str, Any]) -> list[ScenarioResult]:
    """The scenario results of a ``latest.json`` (scenarios matched by name in ``SCENARIOS``)."""
    known = {s.name: s for s in SCENARIOS}
    results = []
    for item in data.get("scenarios", []):
        scenario = known.get(item["name"])
        if scenario is None:
            raise ValueError(f"scenario {item['name']!r} of the results is not in SCENARIOS any more")
        result = ScenarioResult(scenario)
        result.runs = {t: _run_from_dict(r) for t, r in item.get("runs", {}).items()}
        result.rounds = {
            t: [_run_from_dict(r) for r in runs] for t, runs in item.get("round_runs", {}).items()
        }
        results.append(result)
    return results
