"""Targets, the results table and the JSON record of a run."""

from __future__ import annotations

import datetime as dt
import operator
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.procs import Interference
from bench.runner import ScenarioResult

RESULTS_DIR = Path(__file__).with_name("results")

OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
OP_TEXT = {">=": "≥", "<=": "≤"}


@dataclass(frozen=True, slots=True)
class Target:
    """A goal on one metric of one scenario (metric names as in ``ScenarioResult.metrics``)."""

    label: str
    scenario: str
    metric: str
    op: str
    threshold: float
    unit: str

    def text(self) -> str:
        return f"{OP_TEXT[self.op]} {self.threshold:g} {self.unit}"

    def evaluate(self, results: dict[str, ScenarioResult]) -> tuple[float | None, bool | None]:
        """(measured value, met?) — both None when the scenario or the metric was not measured."""
        result = results.get(self.scenario)
        if result is None:
            return None, None
        value = result.metrics().get(self.metric)
        if value is None:
            return None, None
        return value, OPS[self.op](value, self.threshold)


TARGETS: list[Target] = [
    Target("gateway throughput at 32 connections", "concurrent", "gateway.rps", ">=", 1500, "req/s"),
    Target(
        "gateway CPU per request (32 connections)",
        "concurrent",
        "gateway.gateway_cpu_ms_per_req",
        "<=",
        0.6,
        "ms",
    ),
    Target("sequential added p50 latency", "sequential", "added.p50_ms", "<=", 0.5, "ms"),
]


def machine_info(wrk_version: str) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    return {
        "loadavg_at_start": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
        "nproc": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "wrk": wrk_version,
    }


def git_revision() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _status(met: bool | None) -> str:
    if met is None:
        return "[dim]not measured[/dim]"
    return "[bold green]met[/bold green]" if met else "[bold red]NOT MET[/bold red]"


def _noise_cell(item: Interference | None) -> str:
    if item is None:
        return "—"
    txt = f"{item.other_cores:.2f}"
    if item.steal_cores >= 0.01:
        txt += f" +{item.steal_cores:.2f} steal"
    return f"[yellow]{txt}[/yellow]" if item.noisy else txt


# Rows of the table: (label, direct metric, gateway metric, ratio metric, digits).
ROWS: list[tuple[str, str, str, str | None, int]] = [
    ("req/s", "direct.rps", "gateway.rps", "ratio.rps", 1),
    ("p50 ms", "direct.p50_ms", "gateway.p50_ms", "ratio.p50", 3),
    ("p90 ms", "direct.p90_ms", "gateway.p90_ms", "ratio.p90", 3),
    ("p99 ms", "direct.p99_ms", "gateway.p99_ms", "ratio.p99", 3),
    ("added ms (p50; p99)", "", "added.p50_ms", "added.p99_ms", 3),
    (
        "CPU ms/req (fake|gw)",
        "direct.upstream_cpu_ms_per_req",
        "gateway.gateway_cpu_ms_per_req",
        None,
        3,
    ),
    ("errors (incl. non-2xx)", "direct.errors", "gateway.errors", None, 0),
]


def render(console: Console, results: list[ScenarioResult], targets: list[Target]) -> None:
    by_name = {r.scenario.name: r for r in results}
    target_for = {(t.scenario, t.metric): t for t in targets}
    table = Table(title="Gateway vs direct (fake upstream)", show_lines=False)
    for col in ("scenario", "metric"):
        table.add_column(col)
    for col in ("direct", "gateway", "gateway/direct"):
        table.add_column(col, justify="right")
    for col in ("target", "status"):
        table.add_column(col)
    for result in results:
        m = result.metrics()
        first = True
        for label, direct_key, gateway_key, ratio_key, digits in ROWS:
            direct = m.get(direct_key) if direct_key else None
            gateway = m.get(gateway_key)
            if direct is None and gateway is None:
                continue
            if label.startswith("added"):
                p99 = m.get(ratio_key or "")
                ratio_txt = f"p99 {p99:+.{digits}f}" if p99 is not None else ""
                gateway_txt = f"{gateway:+.{digits}f}" if gateway is not None else "—"
            else:
                ratio = m.get(ratio_key) if ratio_key else None
                ratio_txt = "" if ratio is None else f"{ratio:.2f}×"
                gateway_txt = _fmt(gateway, digits)
            if label.startswith("errors"):
                bad = (direct or 0) + (gateway or 0)
                style = "bold red" if bad else "green"
                direct_txt = f"[{style}]{_fmt(direct, 0)}[/{style}]"
                gateway_txt = f"[{style}]{gateway_txt}[/{style}]"
            else:
                direct_txt = _fmt(direct, digits)
            target = target_for.get((result.scenario.name, gateway_key))
            target_txt, status_txt = "", ""
            if target is not None:
                _, met = target.evaluate(by_name)
                target_txt, status_txt = target.text(), _status(met)
            table.add_row(
                result.scenario.name if first else "",
                label,
                direct_txt,
                gateway_txt,
                ratio_txt,
                target_txt,
                status_txt,
                end_section=False,
            )
            first = False
        noise = {t: r.interference for t, r in result.runs.items()}
        if noise:
            cells = [_noise_cell(noise.get(t)) for t in ("direct", "gateway")]
            table.add_row("", "other load (cores)", *cells, "", "", "")
        table.add_section()
    console.print(table)

    summary = Table(title="Targets", show_header=True)
    summary.add_column("target")
    summary.add_column("goal")
    summary.add_column("measured", justify="right")
    summary.add_column("status")
    for target in targets:
        value, met = target.evaluate(by_name)
        summary.add_row(target.label, target.text(), _fmt(value, 3), _status(met))
    console.print(summary)


def to_json(
    *,
    results: list[ScenarioResult],
    targets: list[Target],
    machine: dict[str, Any],
    settings: dict[str, Any],
    error: str | None,
) -> dict[str, Any]:
    by_name = {r.scenario.name: r for r in results}
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
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "machine": machine,
        "settings": settings,
        "scenarios": [r.to_dict(scale) for r in results],
        "targets": target_rows,
        "error": error,
    }


def write_json(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    return path
