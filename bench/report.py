"""Targets, the results table and the JSON record of a run (its scenarios and the first-byte step)."""

from __future__ import annotations

import argparse
import datetime as dt
import operator
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult
from bench.procs import Interference
from bench.runner import RunResult, ScenarioResult
from bench.scenarios import SCENARIOS
from bench.wrk import WrkResult

RESULTS_DIR = Path(__file__).with_name("results")

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
}
OP_TEXT = {">=": "≥", "<=": "≤", "<": "<", ">": ">"}

#: The issue's absolute targets were measured on a quieter copy of this machine, where the bare
#: aiohttp pass-through proxy (bench/bare_proxy.py) did this many req/s on one core (concurrent).
REFERENCE_BASELINE_RPS = 2822.0
#: At the reference, the baseline saturated its core: CPU time per request = time per request.
REFERENCE_BASELINE_MS = 1000 / REFERENCE_BASELINE_RPS
#: The run that tells how fast this machine is now: the baseline proxy at 32 connections.
SPEED_SCENARIO, SPEED_METRIC = "concurrent", "baseline.rps"


class Measured(Protocol):
    """What a target reads: a scenario's result, or the first-byte step's."""

    def metrics(self) -> dict[str, float]: ...


@dataclass(frozen=True, slots=True)
class Measurements:
    """What one run measured: its scenarios and, when it ran, the first-byte step."""

    scenarios: list[ScenarioResult]
    first_byte: FirstByteResult | None = None

    def by_name(self) -> dict[str, Measured]:
        named: dict[str, Measured] = {r.scenario.name: r for r in self.scenarios}
        if self.first_byte is not None:
            named[FIRST_BYTE] = self.first_byte
        return named


@dataclass(frozen=True, slots=True)
class Target:
    """A goal on one metric of one scenario (metric names as in ``ScenarioResult.metrics``).

    The goal is ``threshold``, or, with ``against``, another metric of the same scenario (e.g. a
    cache hit's p50 against the direct p50). ``scaled`` says how an absolute target translates to
    this machine through the baseline proxy measured in the same run (at the reference it did
    ``REFERENCE_BASELINE_RPS`` on one core, so ``REFERENCE_BASELINE_MS`` per request):

    - ``"rps"``: a throughput, as a fraction of the baseline's req/s (at 32 connections);
    - ``"cpu"``: CPU per request, as a multiple of the baseline's CPU per request in the same
      scenario (robust to other load: CPU time is not inflated by waiting for a busy core);
    - ``"latency"``: milliseconds of latency, as a multiple of the baseline's time per request
      (1/req/s at 32 connections), so they grow when the machine is slower or busier.
    """

    label: str
    scenario: str
    metric: str
    op: str
    threshold: float
    unit: str
    against: str | None = None
    scaled: str | None = None
    #: Another scenario: the value is this scenario's metric over that one's (e.g. CPU per request
    #: on PostgreSQL and Redis over the embedded gateway's, in the same run).
    relative_to: str | None = None
    #: Judge the value rounded to this many decimals, as the table shows it: a count per request
    #: is off by one at the run's edges (a request in flight when wrk stops: 1.0001 EVALSHA/req).
    digits: int | None = None

    def text(self) -> str:
        if self.relative_to is not None:
            return f"{OP_TEXT[self.op]} {self.threshold:g}× {self.relative_to}"
        if self.against is not None:
            run, _, metric = self.against.partition(".")
            return f"{OP_TEXT[self.op]} {run} {metric.removesuffix('_ms')}"
        return f"{OP_TEXT[self.op]} {self.threshold:g} {self.unit}"

    def evaluate(self, results: Mapping[str, Measured]) -> tuple[float | None, bool | None]:
        """(measured value, met?) — both None when the scenario or the metric was not measured."""
        result = results.get(self.scenario)
        if result is None:
            return None, None
        metrics = result.metrics()
        value = metrics.get(self.metric)
        if value is None:
            return None, None
        if self.relative_to is not None:
            other = results.get(self.relative_to)
            base = other.metrics().get(self.metric) if other is not None else None
            if not base:
                return None, None
            value = value / base
        threshold = self.threshold if self.against is None else metrics.get(self.against)
        if threshold is None:
            return value, None
        judged = value if self.digits is None else round(value, self.digits)
        return value, OPS[self.op](judged, threshold)

    def evaluate_scaled(self, results: Mapping[str, Measured]) -> ScaledTarget | None:
        """The target scaled by the baseline's speed here, or None when it is not scalable."""
        if self.scaled is None or self.against is not None:
            return None
        speed = results.get(SPEED_SCENARIO)
        baseline_rps = speed.metrics().get(SPEED_METRIC) if speed is not None else None
        own = results.get(self.scenario)
        baseline_cpu = own.metrics().get("baseline.baseline_cpu_ms_per_req") if own is not None else None
        value, _ = self.evaluate(results)
        here: float | None
        if self.scaled == "rps":
            factor = self.threshold / REFERENCE_BASELINE_RPS  # a fraction of the baseline's req/s
            basis = baseline_rps
            here = None if basis is None else factor * basis
        elif self.scaled == "cpu":
            factor = self.threshold / REFERENCE_BASELINE_MS  # a multiple of the baseline's CPU/req
            basis = baseline_cpu
            here = None if basis is None else factor * basis
        elif self.scaled == "latency":
            factor = self.threshold / REFERENCE_BASELINE_MS  # baseline times per request
            basis = 1000 / baseline_rps if baseline_rps else None
            here = None if basis is None else factor * basis
        else:
            raise ValueError(f"{self.label}: unknown scaling {self.scaled!r}")
        met = None if here is None or value is None else OPS[self.op](value, here)
        return ScaledTarget(self, factor, basis, here, value, met)


#: The baseline figure of each scaling, for the report: (short name, name, unit, digits).
SCALE_BASIS = {
    "rps": ("baseline req/s", "baseline", "req/s", 0),
    "cpu": ("baseline CPU/req", "baseline CPU/req", "ms", 3),
    "latency": ("baseline time/req", "baseline time/req (1/req/s)", "ms", 3),
}


@dataclass(frozen=True, slots=True)
class ScaledTarget:
    target: Target
    #: The target as a fraction ("rps") or multiple ("cpu", "latency") of the baseline's figure.
    factor: float
    #: The baseline's figure here: req/s, CPU ms per request, or ms per request (1/req/s).
    basis: float | None
    #: The target on this machine now (None when the baseline was not measured).
    threshold_here: float | None
    value: float | None
    met: bool | None

    def short(self) -> str:
        t = self.target
        name = SCALE_BASIS[t.scaled or ""][0]
        here = "" if self.threshold_here is None else f" = {self.threshold_here:,.3f} {t.unit}"
        return f"{OP_TEXT[t.op]} {self.factor:.2f}× {name}{here}"

    def text(self) -> str:
        t = self.target
        op = OP_TEXT[t.op]
        ref = f"{REFERENCE_BASELINE_RPS:.0f}"
        _, name, unit, digits = SCALE_BASIS[t.scaled or ""]
        if t.scaled == "rps":
            rule = f"target {op}{t.threshold:g} {t.unit} at baseline {ref} ⇒ {op} {self.factor:.2f}× baseline"
        elif t.scaled == "cpu":
            rule = (
                f"target {op}{t.threshold:g} {t.unit} CPU/req at baseline {ref} req/s on one core "
                f"({REFERENCE_BASELINE_MS:.3f} ms CPU/req) ⇒ {op} {self.factor:.2f}× the {name}"
            )
        else:
            rule = (
                f"target {op}{t.threshold:g} {t.unit} at baseline {ref} req/s "
                f"({REFERENCE_BASELINE_MS:.3f} ms per request) ⇒ {op} {self.factor:.2f}× the {name}"
            )
        if self.basis is None or self.threshold_here is None:
            return f"{rule}; baseline not measured here"
        measured = "not measured" if self.value is None else f"measured {self.value:,.3f} {t.unit}"
        return (
            f"{rule}; here {name} {self.basis:,.{digits}f} {unit} ⇒ {op} {self.threshold_here:,.3f} "
            f"{t.unit}; {measured}"
        )


TARGETS: list[Target] = [
    Target(
        "gateway throughput at 32 connections",
        "concurrent",
        "gateway.rps",
        ">=",
        1500,
        "req/s",
        scaled="rps",
    ),
    Target(
        "gateway CPU per request (32 connections)",
        "concurrent",
        "gateway.gateway_cpu_ms_per_req",
        "<=",
        0.6,
        "ms",
        scaled="cpu",
    ),
    Target("sequential added p50 latency", "sequential", "added.p50_ms", "<=", 0.5, "ms", scaled="latency"),
    Target(
        "one connection: added p50 against the bare proxy's",
        "sequential",
        "vs_baseline.added_p50",
        "<=",
        1.1,
        "×",
    ),
    Target(
        "one connection: added p99 against the bare proxy's",
        "sequential",
        "vs_baseline.added_p99",
        "<=",
        2.0,
        "×",
    ),
    Target(
        "streaming: added p50 of the first byte ≤ the plain request's added p50",
        FIRST_BYTE,
        "added.first_byte_p50_ms",
        "<=",
        0,
        "ms",
        against="added.plain_p50_ms",
    ),
    Target(
        "50 ms upstream, 128 connections: throughput against direct",
        "slow-upstream",
        "ratio.rps",
        ">=",
        0.97,
        "×",
    ),
    Target(
        "cache hit p50 below the direct p50 (sequential)",
        "cache-hit",
        "gateway.p50_ms",
        "<",
        0,
        "ms",
        against="direct.p50_ms",
    ),
    Target(
        "cache hit p50 below the direct p50 (32 connections)",
        "cache-hit-c32",
        "gateway.p50_ms",
        "<",
        0,
        "ms",
        against="direct.p50_ms",
    ),
    Target(
        "rate-limit rule added p50 (in-process)",
        "ratelimit",
        "feature.p50_ms",
        "<=",
        0.1,
        "ms",
        scaled="latency",
    ),
    Target(
        "Redis round trips per request (rate-limit rule)",
        "ratelimit-redis",
        "gateway.redis_evalsha_per_req",
        "<=",
        1,
        "EVALSHA",
        digits=2,
    ),
    Target(
        "a cost rule added p50 (in-process)",
        "budget-cost",
        "feature.p50_ms",
        "<=",
        0.1,
        "ms",
        scaled="latency",
    ),
    Target(
        "token and cost rules together added p50 (in-process)",
        "budget",
        "feature.p50_ms",
        "<=",
        0.1,
        "ms",
        scaled="latency",
    ),
    Target(
        "PostgreSQL + Redis: gateway CPU per request against the embedded gateway's",
        "stores-redis",
        "gateway.gateway_cpu_ms_per_req",
        "<=",
        1.3,
        "×",
        relative_to="stores-embedded",
    ),
    Target(
        "PostgreSQL + Redis: Redis round trips per cache miss under a request rule (lookup and"
        " decision in one, then the answer's store)",
        "stores-redis",
        "gateway.redis_trips_per_miss",
        "<=",
        2,
        "trips",
        digits=2,
    ),
    Target(
        "PostgreSQL + Redis: Redis round trips per cache hit under a request rule",
        "stores-redis",
        "gateway.redis_trips_per_hit",
        "<=",
        1,
        "trips",
        digits=2,
    ),
    Target(
        "built-in guardrails added p50 (4 KB request)",
        "guardrails",
        "feature.p50_ms",
        "<=",
        0.2,
        "ms",
        scaled="latency",
    ),
    Target(
        "Redis round trips per request (token and cost rules: reserve, settle)",
        "budget-redis",
        "gateway.redis_evalsha_per_req",
        "<=",
        2,
        "EVALSHA",
        digits=2,
    ),
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


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: a metric per column, and the ratio columns."""

    label: str
    cells: tuple[str | None, ...]
    ratios: tuple[str | None, ...] = ()
    digits: int = 3
    signed: bool = False
    #: Metrics of a range (min, max) shown after the last cell, e.g. over alternating rounds.
    spread: tuple[str, str] | None = None
    #: The same for the last ratio cell.
    ratio_spread: tuple[str, str] | None = None


# The main table: direct, baseline, gateway, then gateway/direct and gateway/baseline.
ROWS: list[Row] = [
    Row(
        "req/s",
        ("direct.rps", "baseline.rps", "gateway.rps"),
        ("ratio.rps", "vs_baseline.rps"),
        1,
        ratio_spread=("vs_baseline.rps_min", "vs_baseline.rps_max"),
    ),
    Row("p50 ms", ("direct.p50_ms", "baseline.p50_ms", "gateway.p50_ms"), ("ratio.p50", "vs_baseline.p50")),
    Row("p90 ms", ("direct.p90_ms", "baseline.p90_ms", "gateway.p90_ms"), ("ratio.p90", "vs_baseline.p90")),
    Row("p99 ms", ("direct.p99_ms", "baseline.p99_ms", "gateway.p99_ms"), ("ratio.p99", "vs_baseline.p99")),
    Row("p50 ms, fake on gw core", ("floor.p50_ms",)),
    Row("CPU ms/req, fake on gw core", ("floor.floor_cpu_ms_per_req",)),
    Row("errors, fake on gw core", ("floor.errors",), digits=0),
    Row(
        "added p50 ms",
        (None, "baseline_added.p50_ms", "added.p50_ms"),
        (None, "vs_baseline.added_p50"),
        signed=True,
        spread=("added.p50_ms_min", "added.p50_ms_max"),
    ),
    Row(
        "added p99 ms",
        (None, "baseline_added.p99_ms", "added.p99_ms"),
        (None, "vs_baseline.added_p99"),
        signed=True,
    ),
    Row(
        "CPU ms/req",
        (
            "direct.upstream_cpu_ms_per_req",
            "baseline.baseline_cpu_ms_per_req",
            "gateway.gateway_cpu_ms_per_req",
        ),
        (None, "vs_baseline.cpu"),
        ratio_spread=("vs_baseline.cpu_min", "vs_baseline.cpu_max"),
    ),
    Row(
        "upstream calls/req",
        ("direct.upstream_per_req", "baseline.upstream_per_req", "gateway.upstream_per_req"),
        digits=2,
    ),
    Row("errors (incl. non-2xx)", ("direct.errors", "baseline.errors", "gateway.errors"), digits=0),
]

# The feature table: the same gateway without (control) and with the scenario's settings.
FEATURE_ROWS: list[Row] = [
    Row("req/s", ("control.rps", "gateway.rps"), ("feature.rps_ratio",), 1),
    Row(
        "p50 ms",
        ("control.p50_ms", "gateway.p50_ms", "feature.p50_ms"),
        spread=("feature.p50_ms_min", "feature.p50_ms_max"),
    ),
    Row(
        "p90 ms",
        ("control.p90_ms", "gateway.p90_ms", "feature.p90_ms"),
        spread=("feature.p90_ms_min", "feature.p90_ms_max"),
    ),
    Row(
        "p99 ms",
        ("control.p99_ms", "gateway.p99_ms", "feature.p99_ms"),
        spread=("feature.p99_ms_min", "feature.p99_ms_max"),
    ),
    Row(
        "gateway CPU ms/req",
        (
            "control.gateway_cpu_ms_per_req",
            "gateway.gateway_cpu_ms_per_req",
            "feature.gateway_cpu_ms_per_req",
        ),
    ),
    Row(
        "Redis CPU ms/req",
        ("control.redis_cpu_ms_per_req", "gateway.redis_cpu_ms_per_req", "feature.redis_cpu_ms_per_req"),
    ),
    Row(
        "Redis EVALSHA/req",
        ("control.redis_evalsha_per_req", "gateway.redis_evalsha_per_req", "feature.redis_evalsha_per_req"),
        digits=2,
    ),
    Row(
        "Redis cmds/req (in Lua too)",
        ("control.redis_cmds_per_req", "gateway.redis_cmds_per_req", "feature.redis_cmds_per_req"),
        digits=2,
    ),
    Row("upstream calls/req", ("control.upstream_per_req", "gateway.upstream_per_req"), digits=2),
    Row("errors (incl. non-2xx)", ("control.errors", "gateway.errors"), digits=0),
]


# The first-byte table: direct, baseline, gateway.
FIRST_BYTE_ROWS: list[Row] = [
    Row(
        "first byte p50 ms (stream)",
        ("direct.first_byte_p50_ms", "baseline.first_byte_p50_ms", "gateway.first_byte_p50_ms"),
    ),
    Row(
        "first byte p99 ms (stream)",
        ("direct.first_byte_p99_ms", "baseline.first_byte_p99_ms", "gateway.first_byte_p99_ms"),
    ),
    Row("whole stream p50 ms", ("direct.stream_p50_ms", "baseline.stream_p50_ms", "gateway.stream_p50_ms")),
    Row("plain p50 ms", ("direct.plain_p50_ms", "baseline.plain_p50_ms", "gateway.plain_p50_ms")),
    Row(
        "added first byte p50 ms",
        (None, "baseline_added.first_byte_p50_ms", "added.first_byte_p50_ms"),
        signed=True,
        spread=("added.first_byte_p50_ms_min", "added.first_byte_p50_ms_max"),
    ),
    Row(
        "added plain p50 ms",
        (None, "baseline_added.plain_p50_ms", "added.plain_p50_ms"),
        signed=True,
        spread=("added.plain_p50_ms_min", "added.plain_p50_ms_max"),
    ),
]


MAIN_CAPTION = (
    "added: minus direct. CPU ms/req: the fake upstream's (direct), the proxy's (baseline), the "
    "gateway's (gateway). upstream calls/req: 0 for cache hits (1.0x: requests in flight when wrk stops)."
)
FLOOR_CAPTION = (
    "fake on gw core: the same fake upstream run on the gateway's core (1 connection), a minimal "
    "Python server there answering prebuilt bytes."
)
TURNS_CAPTION = (
    "Direct, (floor,) baseline and gateway take turns in rounds (order reversed every other round): "
    "latencies are the medians over the rounds, req/s and CPU over all of them; (low…high): the range "
    "over the rounds, each round's gateway against the same round's baseline or direct run."
)
FIRST_BYTE_CAPTION = (
    "One keep-alive connection (bench/first_byte.py, on the load core), {requests} streamed and "
    "{requests} plain requests in turn per target and round, the targets taking turns as in the "
    "scenarios. first byte: from sending the request until the stream's first data: had arrived; "
    "plain: the whole answer. Medians over the rounds; added: minus direct, (low…high) over the rounds."
)
FEATURE_CAPTION = (
    "Control (without) and gateway (with) runs alternate in rounds (ABBA); their latencies are the "
    "medians over the rounds, with − without the median of the rounds' paired differences (range). "
    "Redis EVALSHA/req: round trips of the rate limiter, per request that reached the upstream; "
    "Redis cmds/req counts the commands its Lua script runs too (INFO commandstats, server-wide)."
)


def _cell(value: float | None, digits: int, signed: bool) -> str:
    if value is None:
        return "—"
    return f"{value:+,.{digits}f}" if signed else _fmt(value, digits)


def _ratio_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


@dataclass(slots=True)
class Grid:
    """A table as plain data (cells may hold rich markup), printed by rich or written as Markdown."""

    title: str
    columns: list[str]
    right: set[str]
    caption: str = ""
    #: Sections (one per scenario) of rows of cells.
    sections: list[list[list[str]]] = field(default_factory=list)

    def rich(self) -> Table:
        table = Table(title=self.title, caption=self.caption or None)
        for col in self.columns:
            table.add_column(col, justify="right" if col in self.right else "left")
        for section in self.sections:
            for row in section:
                table.add_row(*row)
            table.add_section()
        return table

    def markdown(self) -> str:
        def plain(cell: str) -> str:
            return Text.from_markup(cell).plain.replace("|", "\\|")

        align = ["---:" if col in self.right else ":---" for col in self.columns]
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |", "|" + "|".join(align) + "|"]
        for section in self.sections:
            lines += ["| " + " | ".join(plain(c) for c in row) + " |" for row in section]
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Section:
    """What one section of a table shows: a scenario's (or the first-byte step's) figures and the
    other load on the machine during each target's runs."""

    name: str
    metrics: dict[str, float]
    noise: dict[str, Interference]

    @classmethod
    def of(cls, result: ScenarioResult) -> Section:
        noise = {t: r.interference for t, r in result.runs.items()}
        return cls(result.scenario.name, result.metrics(), noise)


def _scenario_rows(
    section: Section,
    rows: list[Row],
    columns: tuple[str, ...],
    by_name: Mapping[str, Measured],
    target_for: dict[tuple[str, str], Target],
    *,
    cells: int = 3,
    ratios: int = 2,
    signed_from: int = 3,
) -> list[list[str]]:
    """One scenario's rows: ``cells`` value columns (from ``signed_from`` on always signed: they are
    differences), then ``ratios`` ratio columns; ``columns`` are the runs of the "other load" row."""
    m, name = section.metrics, section.name
    out: list[list[str]] = []
    for row in rows:
        keys = [*row.cells, *([None] * (cells - len(row.cells)))]
        values = [m.get(key) if key else None for key in keys]
        if all(v is None for v in values[: len(columns)]):
            continue
        texts = [
            "" if key is None else _cell(v, row.digits, row.signed or i >= signed_from)
            for i, (key, v) in enumerate(zip(keys, values, strict=True))
        ]
        if row.spread is not None and all(k in m for k in row.spread):
            low, high = (m[k] for k in row.spread)
            texts[-1] += f" ({low:+.{row.digits}f}…{high:+.{row.digits}f})"
        if row.label.startswith("errors"):
            style = "bold red" if any(values) else "green"
            texts = [f"[{style}]{t}[/{style}]" if t else t for t in texts]
        ratio_keys = [*row.ratios, *([None] * (ratios - len(row.ratios)))]
        ratio_texts = [_ratio_cell(m.get(key)) if key else "" for key in ratio_keys]
        if row.ratio_spread is not None and all(k in m for k in row.ratio_spread):
            low, high = (m[k] for k in row.ratio_spread)
            ratio_texts[-1] += f" ({low:.2f}…{high:.2f})"
        target = next((target_for[(name, k)] for k in keys if k and (name, k) in target_for), None)
        target_txt, status_txt = "", ""
        if target is not None:
            _, met = target.evaluate(by_name)
            target_txt, status_txt = target.text(), _status(met)
        out.append(["" if out else name, row.label, *texts, *ratio_texts, target_txt, status_txt])
    noise = section.noise
    if noise:
        noise_cells = [_noise_cell(noise.get(t)) for t in columns]
        pad = [""] * (cells + ratios - len(columns))
        out.append(["", "other load (cores)", *noise_cells, *pad, "", ""])
    return out


def grids(measured: Measurements, targets: list[Target]) -> list[Grid]:
    """The report's tables: gateway/direct/baseline, feature costs (control runs), the first byte
    of a streamed answer, targets."""
    results = measured.scenarios
    by_name = measured.by_name()
    target_for = {(t.scenario, t.metric): t for t in targets}
    out: list[Grid] = []

    main = [r for r in results if "control" not in r.runs]
    if main:
        values = ["direct", "baseline", "gateway", "gw/direct", "gw/baseline"]
        grid = Grid(
            "Gateway vs direct (fake upstream) vs baseline (bare aiohttp proxy)",
            ["scenario", "metric", *values, "target", "status"],
            set(values),
            " ".join(
                [
                    MAIN_CAPTION,
                    *([FLOOR_CAPTION] if any("floor" in r.runs for r in main) else []),
                    *([TURNS_CAPTION] if any(r.rounds for r in main) else []),
                ]
            ),
        )
        for result in main:
            grid.sections.append(
                _scenario_rows(
                    Section.of(result), ROWS, ("direct", "baseline", "gateway"), by_name, target_for
                )
            )
        out.append(grid)

    features = [r for r in results if "control" in r.runs]
    if features:
        values = ["without", "with", "with − without", "with/without"]
        grid = Grid(
            "The same gateway process without (control) and with the scenario's settings",
            ["scenario", "metric", *values, "target", "status"],
            set(values),
            FEATURE_CAPTION,
        )
        for result in features:
            rows = _scenario_rows(
                Section.of(result),
                FEATURE_ROWS,
                ("control", "gateway"),
                by_name,
                target_for,
                ratios=1,
                signed_from=2,
            )
            grid.sections.append(rows)
        out.append(grid)

    if measured.first_byte is not None:
        out.append(_first_byte_grid(measured.first_byte, by_name, target_for))

    summary = Grid(
        "Targets",
        ["target", "goal", "measured", "status", "scaled by the baseline", "status (scaled)"],
        {"measured"},
    )
    rows = []
    for target in targets:
        value, met = target.evaluate(by_name)
        scaled = target.evaluate_scaled(by_name)
        scaled_txt, scaled_status = "", ""
        if scaled is not None:
            scaled_txt, scaled_status = scaled.short(), _status(scaled.met)
        rows.append([target.label, target.text(), _fmt(value, 3), _status(met), scaled_txt, scaled_status])
    summary.sections.append(rows)
    out.append(summary)
    return out


def _first_byte_grid(
    result: FirstByteResult, by_name: Mapping[str, Measured], target_for: dict[tuple[str, str], Target]
) -> Grid:
    values = ["direct", "baseline", "gateway"]
    grid = Grid(
        "First byte of a streamed answer (one connection, streamed and plain requests in turn)",
        ["step", "metric", *values, "target", "status"],
        set(values),
        FIRST_BYTE_CAPTION.format(requests=result.requests),
    )
    section = Section(FIRST_BYTE, result.metrics(), result.interference())
    grid.sections.append(
        _scenario_rows(section, FIRST_BYTE_ROWS, tuple(values), by_name, target_for, ratios=0)
    )
    return grid


def scaled_lines(results: list[ScenarioResult], targets: list[Target]) -> list[str]:
    """One line per absolute target scaled by the baseline's speed here, and whether it is met."""
    by_name = {r.scenario.name: r for r in results}
    lines = []
    for target in targets:
        scaled = target.evaluate_scaled(by_name)
        if scaled is not None:
            lines.append(f"{target.label}: {scaled.text()} — {_status(scaled.met)}")
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


def write_markdown(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


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
