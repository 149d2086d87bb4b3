"""A run's report: its tables on the console and as Markdown (`bench/results/latest.md`), with the
notes under them (the targets scaled by the baseline's speed, the placement floor).

`python -m bench.report` prints a saved run's report again. The pieces: `targets.py` (the goals
and their verdicts), `tables.py` and `table_rows.py` (the tables), `record.py` (the JSON record),
`machine.py` (what the run measured on)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.text import Text

from bench.first_byte_rounds import FirstByteResult
from bench.record import RESULTS_DIR, results_from_json
from bench.run_result import ScenarioResult
from bench.tables import grids, status
from bench.targets import TARGETS, Measurements, Target


def scaled_lines(results: list[ScenarioResult], targets: list[Target]) -> list[str]:
    """One line per absolute target scaled by the baseline's speed here, and whether it is met."""
    by_name = {r.scenario.name: r for r in results}
    lines = []
    for target in targets:
        scaled = target.evaluate_scaled(by_name)
        if scaled is not None:
            lines.append(f"{target.label}: {scaled.text()} — {status(scaled.met)}")
    return lines


def floor_lines(results: list[ScenarioResult]) -> list[str]:
    """Per 1-connection scenario: what answering from the gateway's core costs by itself."""
    lines = []
    for result in results:
        m = result.metrics()
        if "floor.p50_ms" in m and "direct.p50_ms" in m:
            floor, direct = m["floor.p50_ms"], m["direct.p50_ms"]
            cpu = m.get("floor.floor_cpu_ms_per_req")
            own = m.get("direct.upstream_cpu_ms_per_req")
            spent = (
                f", spending {cpu:.3f} ms of CPU per request there against {own:.3f}" if cpu and own else ""
            )
            if floor >= direct:
                why = (
                    f"+{floor - direct:.3f} ms for the hop across cores and for running on a core that "
                    "idles between requests, which a proxy there pays on both of its waits "
                    "(client and upstream)"
                )
            else:  # next to wrk, the fake shares its core with the load generator
                why = (
                    f"{floor - direct:.3f} ms: on this machine crossing cores costs less than sharing "
                    "wrk's core, so the direct path is the slower one"
                )
            lines.append(
                f"placement floor ({result.scenario.name}): the fake upstream itself, moved to the "
                f"gateway's core, answers in {floor:.3f} ms p50 against {direct:.3f} ms next to wrk{spent}: "
                + why
            )
    return lines


def render(console: Console, measured: Measurements, targets: list[Target]) -> None:
    for grid in grids(measured, targets):
        console.print(grid.rich())
    results = measured.scenarios
    for line in [*scaled_lines(results, targets), *floor_lines(results)]:
        console.print(line, highlight=False)


def markdown(
    measured: Measurements,
    targets: list[Target],
    machine: dict[str, Any],
    when: dt.datetime | None = None,
) -> str:
    """The same report as Markdown (bench/results/latest.md), for the README's Benchmarks section."""
    load = ", ".join(f"{x:g}" for x in machine.get("loadavg_at_start", []))
    when = when or dt.datetime.now(dt.UTC)
    header = (
        f"{when:%Y-%m-%d %H:%M} UTC; {machine.get('nproc')} × {machine.get('cpu_model')}; "
        f"load average at start {load}; Python {machine.get('python')}, kernel {machine.get('kernel')}, "
        f"{machine.get('wrk')}"
    )
    parts = [header]
    parts += [grid.markdown() for grid in grids(measured, targets)]
    results = measured.scenarios
    notes = [*scaled_lines(results, targets), *floor_lines(results)]
    parts.append("\n".join(f"- {Text.from_markup(line).plain}" for line in notes))
    return "\n\n".join(parts) + "\n"


def write_markdown(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report [results.json]``: print a past run's report again, rewrite its .md."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument("--markdown", type=Path, default=None, help="default: the results path with .md")
    args = parser.parse_args(argv)
    data = orjson.loads(args.results.read_bytes())
    first_byte = data.get("first_byte")
    measured = Measurements(
        results_from_json(data), None if first_byte is None else FirstByteResult.from_dict(first_byte)
    )
    console = Console() if Console().is_terminal else Console(width=150)
    console.print(
        f"{args.results}: run of {data.get('timestamp')}, scale {data.get('settings', {}).get('scale')}",
        highlight=False,
    )
    render(console, measured, TARGETS)
    when = dt.datetime.fromisoformat(data["timestamp"]) if data.get("timestamp") else None
    text = markdown(measured, TARGETS, data.get("machine", {}), when)
    path = write_markdown(text, args.markdown or args.results.with_suffix(".md"))
    console.print(f"Markdown written to {path}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
