"""Starting the fake upstream, the baseline proxy and the gateway, and running each scenario on them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.postgres_schema import DEFAULT_POSTGRES_URL, BenchSchema, PostgresUnavailable
from bench.procs import (
    Child,
    Interference,
    ProcessGroup,
    StartupError,
    cpu_seconds,
    cpu_snapshot,
    free_port,
    wait_http_ok,
)
from bench.redis_probe import RedisProbe, RedisUnavailable, calls_between
from bench.scenarios import REQUEST_NUMBER, Scenario
from bench.wrk import WrkResult, lua_script, run_wrk

HOST = "127.0.0.1"
FAKE_UPSTREAM_SCRIPT = Path(__file__).with_name("fake_upstream.py")
BARE_PROXY_SCRIPT = Path(__file__).with_name("bare_proxy.py")
#: The runs of a scenario: the fake upstream alone, the same fake on the gateway's core (floor, at one
#: connection), the bare aiohttp proxy (baseline), the gateway with the scenario's control settings
#: (when it has some), and the gateway. Direct, floor, baseline and gateway take turns in rounds;
#: control and gateway alternate in rounds of their own.
TARGETS = ("direct", "floor", "baseline", "control", "gateway")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class Settings:
    scale: float = 1.0
    load_cpu: int | None = 1
    gateway_cpu: int | None = 0
    gateway_bin: Path = field(default_factory=lambda: Path(sys.executable).with_name("sluicegate"))
    direct_only: bool = False
    startup_deadline_s: float = 30.0
    settle_s: float = 0.5
    single_write_stream: bool = False
    #: Start the bare aiohttp proxy (bench/bare_proxy.py) and give every direct+gateway scenario a
    #: baseline run through it.
    baseline: bool = True
    #: The Redis of the gateway-redis process (a random key prefix is added per run).
    redis_url: str = DEFAULT_REDIS_URL
    #: The PostgreSQL of the gateway-pg-redis process (a schema of its own per run, dropped after).
    postgres_url: str = DEFAULT_POSTGRES_URL


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    base_url: str
    child: Child
    #: Name of this process's CPU figure ("upstream", "floor", "baseline", "gateway").
    process: str
    #: The Redis behind this gateway (its round trips and CPU are counted), if any.
    redis: RedisProbe | None = None
    redis_pid: int | None = None
    admin_token: str | None = None


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


def _ratio(out: dict[str, float], name: str, numerator: str, denominator: str) -> None:
    if out.get(denominator) and numerator in out:
        out[name] = out[numerator] / out[denominator]


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


class Bench:
    """The processes under test and the scenario loop."""

    def __init__(
        self, settings: Settings, group: ProcessGroup, workdir: Path, wrk: str, log: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.group = group
        self.workdir = workdir
        self.wrk = wrk
        self.log = log
        self.endpoints: dict[str, Endpoint] = {}
        #: Gateway processes that could not start (name → why), so each is tried once.
        self.unavailable: dict[str, str] = {}
        #: PostgreSQL schemas made for this run, dropped by `close`.
        self.schemas: list[BenchSchema] = []

    # --- setup -------------------------------------------------------------------------------------

    def start_upstream(self) -> Endpoint:
        return self._start_fake("direct", "upstream", self.settings.load_cpu)

    def start_floor(self) -> Endpoint:
        """A second fake upstream, on the gateway's core: how fast a minimal Python server answers
        there (prebuilt bytes, nothing else), measured at one connection next to the direct path."""
        return self._start_fake("floor", "floor", self.settings.gateway_cpu)

    def _start_fake(self, name: str, process: str, cpu: int | None) -> Endpoint:
        port = free_port(HOST)
        cmd = [sys.executable, str(FAKE_UPSTREAM_SCRIPT), "--host", HOST, "--port", str(port)]
        if self.settings.single_write_stream:
            cmd.append("--single-write-stream")
        label = "fake upstream" if name == "direct" else f"fake upstream ({name})"
        child = self.group.start(
            label, _pinned(cmd, cpu), log_path=self.workdir / f"fake_upstream_{name}.log"
        )
        base = f"http://{HOST}:{port}"
        wait_http_ok(f"{base}/healthz", child, deadline_s=self.settings.startup_deadline_s)
        endpoint = Endpoint(name, base, child, process=process)
        self.endpoints[name] = endpoint
        self.log(f"{label} ready at {base} (pid {child.pid}, cpu {cpu})")
        return endpoint

    def start_baseline(self) -> Endpoint:
        """The bare aiohttp pass-through proxy, on the gateway's core, in front of the fake upstream."""
        upstream = self.endpoints["direct"].base_url
        port = free_port(HOST)
        cmd = [sys.executable, str(BARE_PROXY_SCRIPT), "--upstream", upstream]
        cmd += ["--host", HOST, "--port", str(port)]
        child = self.group.start(
            "baseline proxy",
            _pinned(cmd, self.settings.gateway_cpu),
            log_path=self.workdir / "bare_proxy.log",
        )
        base = f"http://{HOST}:{port}"
        wait_http_ok(f"{base}/healthz", child, deadline_s=self.settings.startup_deadline_s)
        endpoint = Endpoint("baseline", base, child, process="baseline")
        self.endpoints["baseline"] = endpoint
        self.log(f"baseline proxy ready at {base} (pid {child.pid}, cpu {self.settings.gateway_cpu})")
        return endpoint

    def start_gateway(self, name: str = "gateway") -> Endpoint:
        """The gateway process ``name``: "gateway", "gateway-redis" (cache and counters in Redis) or
        "gateway-pg-redis" (those in Redis, the database on PostgreSQL, as replicas run)."""
        upstream = self.endpoints["direct"].base_url
        gateway_bin = self.settings.gateway_bin
        if not gateway_bin.exists():
            raise StartupError(
                f"the gateway executable {gateway_bin} does not exist (is the project installed, "
                "`pip install -e .`?); use --direct-only to measure the fake upstream alone"
            )
        redis: RedisProbe | None = None
        redis_pid: int | None = None
        extra_env: dict[str, str] = {}
        if name == "gateway-pg-redis":
            schema = BenchSchema(self.settings.postgres_url)
            try:
                schema.check()
            except PostgresUnavailable as exc:
                raise ScenarioSkipped(f"no PostgreSQL for the gateway-pg-redis process: {exc}") from exc
            self.schemas.append(schema)
            extra_env["SLUICEGATE_DATABASE_URL"] = schema.gateway_url
        if name in ("gateway-redis", "gateway-pg-redis"):
            redis = RedisProbe.for_url(self.settings.redis_url)
            try:
                redis.ping()
                redis_pid = redis.pid()
            except RedisUnavailable as exc:
                raise ScenarioSkipped(f"no Redis for the gateway-redis process: {exc}") from exc
            extra_env["SLUICEGATE_CACHE_URL"] = redis.gateway_url
        elif name != "gateway":
            raise ValueError(f"unknown gateway process {name!r} (gateway, gateway-redis, gateway-pg-redis)")
        data_dir = self.workdir / f"{name}-data"
        data_dir.mkdir()
        port = free_port(HOST)
        inherited = sorted(k for k in os.environ if k.startswith("SLUICEGATE_"))
        if inherited and name == "gateway":
            self.log(f"gateway inherits {', '.join(inherited)} from the environment")
        # A fresh admin token: scenarios set the gateway's settings through the admin API.
        token = "bench-" + secrets.token_urlsafe(24)
        extra_env |= {
            "SLUICEGATE_DATA": str(data_dir),
            "SLUICEGATE_UPSTREAM_OPENAI": f"{upstream}/v1",
            "SLUICEGATE_ADMIN_TOKEN": token,
        }
        env = {**os.environ, **extra_env}
        cmd = [str(gateway_bin), "serve", "--host", HOST, "--port", str(port)]
        child = self.group.start(
            name, _pinned(cmd, self.settings.gateway_cpu), env=env, log_path=self.workdir / f"{name}.log"
        )
        base = f"http://{HOST}:{port}"
        try:
            wait_http_ok(f"{base}/healthz", child, deadline_s=self.settings.startup_deadline_s)
        except StartupError as exc:
            shown = " ".join(f"{k}={v}" for k, v in extra_env.items() if k != "SLUICEGATE_ADMIN_TOKEN")
            raise StartupError(
                f"the {name} process did not start: {exc}\n"
                f"command: {shown} {' '.join(cmd)}\n(use --direct-only to measure the fake upstream alone)"
            ) from exc
        endpoint = Endpoint(name, base, child, "gateway", redis, redis_pid, token)
        self.endpoints[name] = endpoint
        where = f", Redis {redis.gateway_url} (pid {redis_pid})" if redis else ""
        self.log(f"{name} ready at {base} (pid {child.pid}, cpu {self.settings.gateway_cpu}{where})")
        return endpoint

    def gateway_endpoint(self, name: str) -> Endpoint | None:
        """The gateway process ``name``, started on first use; None when there is no gateway."""
        if self.settings.direct_only:
            return None
        if name not in self.endpoints:
            if name in self.unavailable:
                raise ScenarioSkipped(self.unavailable[name])
            try:
                self.start_gateway(name)
            except ScenarioSkipped as exc:
                self.unavailable[name] = str(exc)
                raise
        return self.endpoints[name]

    def close(self) -> None:
        """Remove this run's Redis keys and PostgreSQL schemas (the processes are the group's to stop)."""
        for endpoint in self.endpoints.values():
            if endpoint.redis is not None:
                with contextlib.suppress(RedisUnavailable):
                    removed = endpoint.redis.cleanup()
                    self.log(f"removed {removed} Redis key(s) under {endpoint.redis.prefix}")
        for schema in self.schemas:
            with contextlib.suppress(PostgresUnavailable):
                schema.drop()
                self.log(f"dropped PostgreSQL schema {schema.name}")

    # --- scenarios ---------------------------------------------------------------------------------

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        result = ScenarioResult(scenario)
        gateway = self.gateway_endpoint(scenario.gateway_server)
        targets: dict[str, Endpoint] = {}
        if scenario.direct_path is not None:
            targets["direct"] = self.endpoints["direct"]
            if scenario.connections == 1 and "floor" in self.endpoints:
                targets["floor"] = self.endpoints["floor"]
            if gateway is not None and "baseline" in self.endpoints:
                targets["baseline"] = self.endpoints["baseline"]
        if gateway is None:
            self._take_turns(scenario, targets, result)
            return result
        touched = set(scenario.gateway_settings) | set(scenario.control_settings or {})
        if not touched:
            self._take_turns(scenario, {**targets, "gateway": gateway}, result)
            return result
        account, slug = scenario.gateway_id()
        original = self._admin(gateway, "GET", f"/api/v1/accounts/{account}/gateways/{slug}")["settings"]
        restore = {k: original.get(k) for k in sorted(touched)}
        try:
            if scenario.control_settings is not None:
                self._take_turns(scenario, targets, result)
                self._run_rounds(scenario, gateway, account, slug, result)
            else:
                self._set_settings(gateway, account, slug, scenario.gateway_settings)
                self._take_turns(scenario, {**targets, "gateway": gateway}, result)
                if gateway.redis is not None and scenario.numbered:
                    result.redis_trips = self._redis_trips(scenario, gateway, gateway.redis)
        except BaseException:
            with contextlib.suppress(PreflightError):  # the first error is the one to report
                self._set_settings(gateway, account, slug, restore)
            raise
        # Put the settings back, so that the next scenarios measure the gateway as it was.
        self._set_settings(gateway, account, slug, restore)
        return result

    def _redis_trips(self, scenario: Scenario, gateway: Endpoint, redis: RedisProbe) -> dict[str, float]:
        """Round trips per request to Redis: a new question (a miss: its answer is stored too)
        and the same question again (a hit), a few of each, one at a time."""
        url = gateway.base_url + scenario.gateway_path
        headers = scenario.headers_for("gateway")
        count = 10
        questions = [
            dataclasses.replace(
                scenario, body=scenario.body.replace(REQUEST_NUMBER.encode(), f"probe-{n}".encode())
            )
            for n in range(count)
        ]
        trips = {
            "miss": redis.round_trips(lambda: [send(url, asked, headers) for asked in questions]) / count,
            "hit": redis.round_trips(lambda: [send(url, asked, headers) for asked in questions]) / count,
        }
        self.log(f"  {scenario.name}: Redis round trips per request {trips}")
        return trips

    def _take_turns(
        self,
        scenario: Scenario,
        targets: dict[str, Endpoint],
        result: ScenarioResult,
        before: Callable[[str], None] | None = None,
    ) -> None:
        """The targets' runs taking turns in ``scenario.rounds`` rounds, the order reversed every
        other round (direct, baseline, gateway; gateway, baseline, direct; ... — ABBA for two): this
        VM's speed shifts within minutes, and a shift then lands on every target alike instead of on
        whichever ran last. ``before(target)`` runs before each of the target's runs."""
        if not targets:
            return
        rounds = max(1, scenario.rounds)
        names = list(targets)
        done: dict[str, list[RunResult]] = {name: [] for name in names}
        for index in range(rounds):
            for name in names if index % 2 == 0 else reversed(names):
                if before is not None:
                    before(name)
                run = self._run_one(
                    scenario,
                    name,
                    targets[name],
                    duration_s=scenario.duration_s / rounds,
                    warm=not done[name],
                    label=f"{name} {index + 1}/{rounds}" if rounds > 1 else name,
                )
                done[name].append(run)
        for name, runs in done.items():
            result.runs[name] = merge_runs(runs)
        if rounds > 1:
            result.rounds.update(done)

    def _run_rounds(
        self, scenario: Scenario, gateway: Endpoint, account: str, slug: str, result: ScenarioResult
    ) -> None:
        """Control and gateway runs through the same process, each with its settings, taking turns."""
        settings = {"control": scenario.control_settings or {}, "gateway": scenario.gateway_settings}
        self._take_turns(
            scenario,
            {"control": gateway, "gateway": gateway},
            result,
            before=lambda target: self._set_settings(gateway, account, slug, settings[target]),
        )

    def _set_settings(self, gateway: Endpoint, account: str, slug: str, settings: dict[str, Any]) -> None:
        if settings:
            path = f"/api/v1/accounts/{account}/gateways/{slug}"
            self._admin(gateway, "PATCH", path, {"settings": settings})

    def _admin(
        self, gateway: Endpoint, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One admin API call with the process's bootstrap token; its JSON answer."""
        data = orjson.dumps(payload) if payload is not None else None
        headers = {"Authorization": f"Bearer {gateway.admin_token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(gateway.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                answer: dict[str, Any] = orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            raise PreflightError(f"admin API {method} {path} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PreflightError(f"admin API {method} {path} failed: {exc}") from exc
        return answer

    def _upstream_served(self, fake: Endpoint) -> int | None:
        """Requests a fake upstream has served so far (its GET /stats)."""
        try:
            with urllib.request.urlopen(fake.base_url + "/stats", timeout=5) as resp:
                stats = orjson.loads(resp.read())
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError):
            return None
        return int(stats.get("completions", 0)) + int(stats.get("streams", 0))

    def _run_one(
        self,
        scenario: Scenario,
        target: str,
        endpoint: Endpoint,
        *,
        duration_s: float | None = None,
        warm: bool = True,
        label: str | None = None,
    ) -> RunResult:
        scale = self.settings.scale
        label = label or target
        path = scenario.path_for(target)
        assert path is not None, f"{scenario.name}/{target} has no path"
        url = endpoint.base_url + path
        headers = scenario.headers_for(target)
        expect: dict[str, str | None] = {}
        if target == "gateway":
            expect = scenario.expect_gateway_headers
            if scenario.prime:
                send(url, scenario, headers)
        preflight(url, scenario, headers, expect)
        script = self.workdir / f"{scenario.name}-{target}.lua"
        number_at = REQUEST_NUMBER.encode() if scenario.numbered else None
        script.write_text(
            lua_script(method=scenario.method, body=scenario.body, headers=headers, number_at=number_at)
        )

        def wrk(duration_s: float) -> WrkResult:
            return run_wrk(
                wrk=self.wrk,
                url=url,
                script=script,
                connections=scenario.connections,
                threads=scenario.threads,
                duration_s=duration_s,
                cpu=self.settings.load_cpu,
                group=self.group,
            )

        if warm:
            warm_up = wrk(scenario.warmup_s * scale)
            if warm_up.errors:
                self.log(
                    f"  warning: {warm_up.errors} error(s) during the warm-up of {scenario.name}/{target}"
                )
        time.sleep(self.settings.settle_s)
        # The floor is a fake upstream of its own: its CPU and requests are its own, not the direct one's.
        served_by = endpoint if endpoint.name == "floor" else self.endpoints["direct"]
        watched = {served_by.process: served_by.child.pid}
        if endpoint.name not in ("direct", "floor"):
            watched[endpoint.process] = endpoint.child.pid
        if endpoint.redis_pid is not None:
            watched["redis"] = endpoint.redis_pid
        # Every benchmark process, gateway or not, to tell other work on the machine apart.
        # (Redis is shared with whatever else uses it: counted as ours only while it serves this run.)
        tracked = {ep.child.pid for ep in self.endpoints.values()} | set(watched.values())
        redis_before = endpoint.redis.command_calls() if endpoint.redis else None
        served_before = self._upstream_served(served_by)
        machine_before = cpu_snapshot()
        tracked_before = sum(_cpu_or_zero(pid) for pid in tracked)
        before = {name: _cpu_or_zero(pid) for name, pid in watched.items()}
        measured = wrk((duration_s if duration_s is not None else scenario.duration_s) * scale)
        # Let after-response work (log batching, usage) for these requests land in the window.
        time.sleep(self.settings.settle_s)
        cpu = {name: _cpu_or_zero(pid) - before[name] for name, pid in watched.items()}
        tracked_cpu = sum(_cpu_or_zero(pid) for pid in tracked) - tracked_before
        interference = Interference.between(machine_before, cpu_snapshot(), tracked_cpu)
        served_after = self._upstream_served(served_by)
        served = None if served_before is None or served_after is None else served_after - served_before
        redis_calls = None
        if endpoint.redis is not None and redis_before is not None:
            redis_calls = calls_between(redis_before, endpoint.redis.command_calls())
        run = RunResult(target, url, measured, cpu, interference, served, redis_calls)
        cpu_txt = ", ".join(
            f"{name} {run.cpu_ms_per_request(name) or 0:.3f} ms CPU/req" for name in sorted(cpu)
        )
        if redis_calls is not None:
            cpu_txt += f"; Redis calls {redis_calls}"
        if measured.errors:
            w = measured
            self.log(
                f"  [red]{scenario.name}/{target}: {w.errors} failed request(s): non-2xx {w.non2xx} "
                f"(first status {w.first_bad_status or '-'}), connect {w.errors_connect}, "
                f"read {w.errors_read}, write {w.errors_write}, timeout {w.errors_timeout}[/red]"
            )
        self.log(
            f"  {scenario.name:<15} {label:<8} {measured.rps:9.1f} req/s  "
            f"p50 {measured.p50_us / 1000:7.3f} ms  p99 {measured.p99_us / 1000:7.3f} ms  "
            f"errors {measured.errors}  ({cpu_txt})"
        )
        if interference.noisy:
            self.log(
                f"  [yellow]warning: other processes used {interference.other_cores:.2f} core(s) "
                f"(steal {interference.steal_cores:.2f}) during {scenario.name}/{label}: "
                "figures are disturbed[/yellow]"
            )
        return run


def _cpu_or_zero(pid: int) -> float:
    """CPU seconds of a process (0 when it cannot be read, e.g. a Redis outside this namespace)."""
    try:
        return cpu_seconds(pid)
    except (ProcessLookupError, PermissionError, ValueError, IndexError):
        return 0.0


def send(url: str, scenario: Scenario, headers: dict[str, str]) -> None:
    """One request whose answer is not checked (e.g. to store a cache entry before a pre-flight)."""
    request = urllib.request.Request(url, data=scenario.body, headers=headers, method=scenario.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"{scenario.name}: POST {url} failed: {exc}") from exc


def preflight(
    url: str, scenario: Scenario, headers: dict[str, str], expect: dict[str, str | None] | None = None
) -> None:
    """One request checked by hand before the load: 2xx, the right shape of answer, expected headers."""
    request = urllib.request.Request(url, data=scenario.body, headers=headers, method=scenario.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status = resp.status
            content_type = resp.headers.get("Content-Type", "")
            answer_headers = {k.lower(): v for k, v in resp.headers.items()}
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"{scenario.name}: POST {url} failed: {exc}") from exc
    if not 200 <= status < 300:
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {status}")
    for name, wanted in (expect or {}).items():
        got = answer_headers.get(name.lower())
        if got is None or (wanted is not None and got.strip().lower() != wanted.lower()):
            raise PreflightError(
                f"{scenario.name}: POST {url} answered {name}: {got!r}, expected {wanted or 'the header'!r}"
            )
    if scenario.stream:
        if "text/event-stream" not in content_type or not body.rstrip().endswith(b"data: [DONE]"):
            raise PreflightError(
                f"{scenario.name}: POST {url} did not answer an SSE stream ending in [DONE] "
                f"(Content-Type {content_type!r}, last bytes {body[-120:]!r})"
            )
        if b'"usage":{' not in body:
            raise PreflightError(f"{scenario.name}: the stream from {url} carries no usage chunk")
        return
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PreflightError(f"{scenario.name}: POST {url} answered non-JSON: {body[:200]!r}") from exc
    if not isinstance(data, dict) or not data.get("choices") or "usage" not in data:
        raise PreflightError(
            f"{scenario.name}: POST {url} answered JSON without choices/usage: {body[:300]!r}"
        )


class ScenarioSkipped(RuntimeError):
    """A scenario cannot run here (e.g. no Redis): reported and skipped, the others still run."""


class PreflightError(RuntimeError):
    pass
