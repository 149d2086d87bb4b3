"""The bench's targets and how one is judged: a goal on one figure of one scenario (or of the
first-byte step), met or not, and an absolute goal scaled to this machine by the baseline proxy's
speed in the same run."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bench.first_byte_rounds import FIRST_BYTE, FirstByteResult
from bench.run_result import ScenarioResult

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
    # The two above were set against an upstream slower than any proxy; this fake answers prebuilt
    # bytes faster than Python can answer at all. The reading that carries to a real upstream: a
    # hit answers before the fastest proxy could have gone upstream and back.
    Target(
        "cache hit p50 below the bare proxy's p50 (sequential)",
        "cache-hit",
        "gateway.p50_ms",
        "<",
        0,
        "ms",
        against="baseline.p50_ms",
    ),
    Target(
        "cache hit p50 below the bare proxy's p50 (32 connections)",
        "cache-hit-c32",
        "gateway.p50_ms",
        "<",
        0,
        "ms",
        against="baseline.p50_ms",
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
