"""The rounds of one target (runs taking turns with the other targets') merged into one run."""

from __future__ import annotations

import statistics

from bench.procs import Interference
from bench.run_result import RunResult
from bench.wrk import WrkResult


def merge_runs(runs: list[RunResult]) -> RunResult:
    """Rounds of one target as one run: counts and CPU summed, latency percentiles the median of the
    rounds' (wrk reports percentiles, not its histogram), load weighted by time."""
    if len(runs) == 1:
        return runs[0]
    w = [r.wrk for r in runs]
    requests = sum(x.requests for x in w)

    def median(name: str) -> int:
        return round(statistics.median(int(getattr(x, name)) for x in w))

    wrk = WrkResult(
        requests=requests,
        duration_us=sum(x.duration_us for x in w),
        bytes=sum(x.bytes for x in w),
        errors_connect=sum(x.errors_connect for x in w),
        errors_read=sum(x.errors_read for x in w),
        errors_write=sum(x.errors_write for x in w),
        errors_status=sum(x.errors_status for x in w),
        errors_timeout=sum(x.errors_timeout for x in w),
        non2xx=sum(x.non2xx for x in w),
        first_bad_status=next((x.first_bad_status for x in w if x.first_bad_status), 0),
        latency_min_us=min(x.latency_min_us for x in w),
        latency_mean_us=sum(x.latency_mean_us * x.requests for x in w) / requests if requests else 0.0,
        latency_max_us=max(x.latency_max_us for x in w),
        p50_us=median("p50_us"),
        p90_us=median("p90_us"),
        p99_us=median("p99_us"),
        p999_us=median("p999_us"),
    )
    cpu: dict[str, float] = {}
    for run in runs:
        for name, value in run.cpu_s.items():
            cpu[name] = cpu.get(name, 0.0) + value
    interference = Interference.merged([r.interference for r in runs])
    served = [r.upstream_requests for r in runs]
    upstream = None if any(x is None for x in served) else sum(x or 0 for x in served)
    redis_calls: dict[str, int] | None = None
    for run in runs:
        if run.redis_calls is not None:
            redis_calls = redis_calls or {}
            for name, count in run.redis_calls.items():
                redis_calls[name] = redis_calls.get(name, 0) + count
    return RunResult(runs[0].target, runs[0].url, wrk, cpu, interference, upstream, redis_calls)
