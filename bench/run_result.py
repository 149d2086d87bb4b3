"""What one measured run gives (`RunResult`: wrk's figures, CPU per process, other load, upstream
and Redis counts) and a scenario's runs turned into the flat named figures the report and the
targets read (`ScenarioResult.metrics`)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.procs import Interference
from bench.scenarios import Scenario
from bench.wrk import WrkResult


@dataclass(slots=True)
class RunResult:
    """One measured wrk run of one scenario against one target."""

    target: str
    url: str
    wrk: WrkResult
    #: CPU seconds used during the measured run, per process name ("gateway", "upstream").
    cpu_s: dict[str, float]
    #: CPU used meanwhile by processes outside the benchmark (other work on the machine).
    interference: Interference
    #: Requests the fake upstream served during the measured run (0 for cache hits).
    upstream_requests: int | None = None
    #: Redis commands per name during the measured run (gateway-redis runs only).
    redis_calls: dict[str, int] | None = None

    def cpu_ms_per_request(self, name: str) -> float | None:
        if name not in self.cpu_s or not self.wrk.requests:
            return None
        return self.cpu_s[name] * 1000 / self.wrk.requests

    def per_request(self, count: int | None) -> float | None:
        return None if count is None or not self.wrk.requests else count / self.wrk.requests

    def per_served(self, count: int) -> float:
        """``count`` per request that reached the upstream, or per request wrk counted when none did.

        The upstream's count is exact; wrk's misses the requests still in flight when it stops (up
        to one per connection), which would make e.g. 1 Redis call per request read 1.003.
        """
        served = self.upstream_requests or self.wrk.requests
        return count / served if served else 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "target": self.target,
            "url": self.url,
            **self.wrk.to_dict(),
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "cpu_ms_per_request": {k: _round(self.cpu_ms_per_request(k), 4) for k in self.cpu_s},
            "upstream_requests": self.upstream_requests,
            "interference": {
                "wall_s": round(self.interference.wall_s, 3),
                "other_cores": round(self.interference.other_cores, 3),
                "steal_cores": round(self.interference.steal_cores, 3),
                "noisy": self.interference.noisy,
            },
        }
        if self.redis_calls is not None:
            data["redis_calls"] = self.redis_calls
        return data


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    runs: dict[str, RunResult] = field(default_factory=dict)
    #: With ``scenario.rounds`` > 1: each target's run of each round (``runs`` holds them merged).
    rounds: dict[str, list[RunResult]] = field(default_factory=dict)
    #: Redis round trips per request ("miss", "hit") of a numbered gateway-pg-redis scenario,
    #: counted with MONITOR over a few sequential requests after its measured runs.
    redis_trips: dict[str, float] = field(default_factory=dict)

    def paired_differences(self, percentile: str) -> list[float]:
        """Per round, the gateway's minus the control's latency percentile (ms), or [] without rounds."""
        control, gateway = self.rounds.get("control", []), self.rounds.get("gateway", [])
        return [
            (getattr(g.wrk, f"{percentile}_us") - getattr(c.wrk, f"{percentile}_us")) / 1000
            for c, g in zip(control, gateway, strict=False)
        ]

    def metrics(self) -> dict[str, float]:
        """Flat named figures for the report and the targets (``direct.rps``, ``added.p50_ms``...).

        ``added.*``/``ratio.*``: the gateway against direct; ``baseline_added.*``: the baseline proxy
        against direct; ``vs_baseline.*``: gateway/baseline ratios (req/s, latency, CPU per request,
        added latency); ``feature.*``: the gateway run minus the control run (what a setting costs).
        """
        out: dict[str, float] = {}
        for target, run in self.runs.items():
            out[f"{target}.rps"] = run.wrk.rps
            out[f"{target}.p50_ms"] = run.wrk.p50_us / 1000
            out[f"{target}.p90_ms"] = run.wrk.p90_us / 1000
            out[f"{target}.p99_ms"] = run.wrk.p99_us / 1000
            out[f"{target}.errors"] = run.wrk.errors
            for name in run.cpu_s:
                value = run.cpu_ms_per_request(name)
                if value is not None:
                    out[f"{target}.{name}_cpu_ms_per_req"] = value
            upstream = run.per_request(run.upstream_requests)
            if upstream is not None:
                out[f"{target}.upstream_per_req"] = upstream
            if run.redis_calls is not None:
                out[f"{target}.redis_evalsha_per_req"] = run.per_served(run.redis_calls.get("evalsha", 0))
                out[f"{target}.redis_cmds_per_req"] = run.per_served(sum(run.redis_calls.values()))
        percentiles = ("p50", "p90", "p99")
        if "direct" in self.runs:
            for target, prefix in (("gateway", "added"), ("baseline", "baseline_added")):
                if target not in self.runs:
                    continue
                for p in percentiles:
                    out[f"{prefix}.{p}_ms"] = out[f"{target}.{p}_ms"] - out[f"direct.{p}_ms"]
        if "direct" in self.runs and "gateway" in self.runs:
            for p in percentiles:
                if out[f"direct.{p}_ms"]:
                    out[f"ratio.{p}"] = out[f"gateway.{p}_ms"] / out[f"direct.{p}_ms"]
            if out["direct.rps"]:
                out["ratio.rps"] = out["gateway.rps"] / out["direct.rps"]
            _ratio(
                out, "ratio.upstream_cpu", "gateway.upstream_cpu_ms_per_req", "direct.upstream_cpu_ms_per_req"
            )
        if "baseline" in self.runs and "gateway" in self.runs:
            _ratio(out, "vs_baseline.rps", "gateway.rps", "baseline.rps")
            for p in percentiles:
                _ratio(out, f"vs_baseline.{p}", f"gateway.{p}_ms", f"baseline.{p}_ms")
                if f"added.{p}_ms" in out:
                    _ratio(out, f"vs_baseline.added_{p}", f"added.{p}_ms", f"baseline_added.{p}_ms")
                    out[f"over_baseline.{p}_ms"] = out[f"gateway.{p}_ms"] - out[f"baseline.{p}_ms"]
            _ratio(
                out, "vs_baseline.cpu", "gateway.gateway_cpu_ms_per_req", "baseline.baseline_cpu_ms_per_req"
            )
        for kind, trips in self.redis_trips.items():
            out[f"gateway.redis_trips_per_{kind}"] = trips
        self._round_spreads(out)
        if "control" in self.runs and "gateway" in self.runs:
            for p in percentiles:
                out[f"feature.{p}_ms"] = out[f"gateway.{p}_ms"] - out[f"control.{p}_ms"]
                # Alternating rounds: the median of the paired differences, and their range.
                paired = self.paired_differences(p)
                if len(paired) > 1:
                    out[f"feature.{p}_ms"] = statistics.median(paired)
                    out[f"feature.{p}_ms_min"] = min(paired)
                    out[f"feature.{p}_ms_max"] = max(paired)
            _ratio(out, "feature.rps_ratio", "gateway.rps", "control.rps")
            for name in (
                "gateway_cpu_ms_per_req",
                "redis_cpu_ms_per_req",
                "redis_evalsha_per_req",
                "redis_cmds_per_req",
            ):
                if f"gateway.{name}" in out and f"control.{name}" in out:
                    out[f"feature.{name}"] = out[f"gateway.{name}"] - out[f"control.{name}"]
        return out

    def _round_spreads(self, out: dict[str, float]) -> None:
        """With direct, baseline and gateway taking turns: the range of the per-round figures
        (``<metric>_min``/``_max``), pairing the runs of each round."""

        def spread(
            name: str, first: str, second: str, figure: Callable[[RunResult, RunResult], float | None]
        ) -> None:
            pairs = zip(self.rounds.get(first, []), self.rounds.get(second, []), strict=False)
            values = [v for a, b in pairs if (v := figure(a, b)) is not None]
            if len(values) > 1:
                out[f"{name}_min"], out[f"{name}_max"] = min(values), max(values)

        def cpu_ratio(gateway: RunResult, baseline: RunResult) -> float | None:
            g, b = gateway.cpu_ms_per_request("gateway"), baseline.cpu_ms_per_request("baseline")
            return g / b if g is not None and b else None

        spread("vs_baseline.cpu", "gateway", "baseline", cpu_ratio)
        spread(
            "vs_baseline.rps",
            "gateway",
            "baseline",
            lambda g, b: g.wrk.rps / b.wrk.rps if b.wrk.rps else None,
        )
        for target, prefix in (("gateway", "added"), ("baseline", "baseline_added")):
            spread(f"{prefix}.p50_ms", target, "direct", lambda t, d: (t.wrk.p50_us - d.wrk.p50_us) / 1000)

    def to_dict(self, scale: float) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "description": s.description,
            "connections": s.connections,
            "threads": s.threads,
            "duration_s": s.duration_s * scale,
            "stream": s.stream,
            "gateway_server": s.gateway_server,
            "gateway_settings": s.gateway_settings,
            "control_settings": s.control_settings,
            "rounds": s.rounds,
            "runs": {t: r.to_dict() for t, r in self.runs.items()},
            "metrics": {k: round(v, 4) for k, v in self.metrics().items()},
            "round_runs": {t: [r.to_dict() for r in runs] for t, runs in self.rounds.items()},
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(out: dict[str, float], name: str, numerator: str, denominator: str) -> None:
    if out.get(denominator) and numerator in out:
        out[name] = out[numerator] / out[denominator]
