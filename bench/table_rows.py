"""What the report's tables show: their rows (a metric per column, the ratio columns) and captions."""

from __future__ import annotations

from dataclasses import dataclass


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
    Row("Redis CPU ms/req", (None, None, "gateway.redis_cpu_ms_per_req")),
    Row("PostgreSQL CPU ms/req", (None, None, "gateway.postgres_cpu_ms_per_req")),
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
    "gateway's (gateway). Redis / PostgreSQL CPU ms/req: the servers behind the gateway, whole (shared "
    "with whatever else uses them), counted as the run's own. upstream calls/req: 0 for cache hits "
    "(1.0x: requests in flight when wrk stops)."
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
