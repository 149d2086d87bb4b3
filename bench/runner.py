"""Running each scenario on the processes under test: its targets' wrk runs taking turns in
rounds, control and gateway runs with the scenario's settings set through the admin API, and each
run's CPU, other load and upstream and Redis counts measured around it."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from bench.endpoints import Endpoint, Processes
from bench.merge import merge_runs
from bench.preflight import PreflightError, admin, logs_stored, preflight, send, upstream_served
from bench.procs import Interference, cpu_seconds, cpu_snapshot
from bench.redis_probe import RedisProbe, calls_between
from bench.run_result import RunResult, ScenarioResult
from bench.scenarios import REQUEST_NUMBER, Scenario
from bench.wrk import WrkResult, lua_script, run_wrk

#: The runs of a scenario: the fake upstream alone, the same fake on the gateway's core (floor, at one
#: connection), the bare aiohttp proxy (baseline), the gateway with the scenario's control settings
#: (when it has some), and the gateway. Direct, floor, baseline and gateway take turns in rounds;
#: control and gateway alternate in rounds of their own.
TARGETS = ("direct", "floor", "baseline", "control", "gateway")


class Bench:
    """The scenario loop over the processes under test."""

    def __init__(self, processes: Processes, wrk: str) -> None:
        self.processes = processes
        self.settings = processes.settings
        self.group = processes.group
        self.workdir = processes.workdir
        self.wrk = wrk
        self.log = processes.log

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        result = ScenarioResult(scenario)
        gateway = self.processes.gateway_endpoint(scenario.gateway_server)
        targets: dict[str, Endpoint] = {}
        if scenario.direct_path is not None:
            targets["direct"] = self.processes.endpoints["direct"]
            if scenario.connections == 1 and "floor" in self.processes.endpoints:
                targets["floor"] = self.processes.endpoints["floor"]
            if gateway is not None and "baseline" in self.processes.endpoints:
                targets["baseline"] = self.processes.endpoints["baseline"]
        if gateway is None:
            self._take_turns(scenario, targets, result)
            return result
        touched = set(scenario.gateway_settings) | set(scenario.control_settings or {})
        if not touched:
            self._take_turns(scenario, {**targets, "gateway": gateway}, result)
            return result
        account, slug = scenario.gateway_id()
        original = admin(gateway, "GET", f"/api/v1/accounts/{account}/gateways/{slug}")["settings"]
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

        def ask_all() -> None:
            for asked in questions:
                send(url, asked, headers)

        trips = {"miss": redis.round_trips(ask_all) / count, "hit": redis.round_trips(ask_all) / count}
        self.log(f"  {scenario.name}: Redis round trips per request {trips}")
        return trips

    def _wait_for_logs(self, scenario: Scenario, label: str, endpoint: Endpoint) -> None:
        """Until a gateway's log records are stored (records still in memory reach the spool within
        a flush interval: wait `settle_s` first)."""
        if endpoint.admin_token is not None and logs_stored(endpoint.base_url, endpoint.admin_token) is None:
            self.log(f"  [yellow]warning: {scenario.name}/{label}: log records unstored after 60 s[/yellow]")

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
            admin(gateway, "PATCH", path, {"settings": settings})

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
        self._wait_for_logs(scenario, label, endpoint)  # the warm-up's records are not this run's
        # The floor is a fake upstream of its own: its CPU and requests are its own, not the direct one's.
        served_by = endpoint if endpoint.name == "floor" else self.processes.endpoints["direct"]
        watched = {served_by.process: served_by.child.pid}
        if endpoint.name not in ("direct", "floor"):
            watched[endpoint.process] = endpoint.child.pid
        if endpoint.redis_pid is not None:
            watched["redis"] = endpoint.redis_pid
        if endpoint.postgres_pid is not None:
            watched["postgres"] = endpoint.postgres_pid  # the server's work for the gateway's logs
        # Every benchmark process, gateway or not, to tell other work on the machine apart.
        # (Redis and PostgreSQL are shared with whatever else uses them: counted as ours only while
        # they serve this run.)
        tracked = {ep.child.pid for ep in self.processes.endpoints.values()} | set(watched.values())
        redis_before = endpoint.redis.command_calls() if endpoint.redis else None
        served_before = upstream_served(served_by)
        machine_before = cpu_snapshot()
        tracked_before = sum(_cpu_or_zero(pid) for pid in tracked)
        before = {name: _cpu_or_zero(pid) for name, pid in watched.items()}
        measured = wrk((duration_s if duration_s is not None else scenario.duration_s) * scale)
        # Let after-response work (log batching, usage) for these requests land in the window, and
        # their log records be stored: storing is part of what a request costs, and how much of a
        # backlog a run leaves for later depends on the run (a saturated core defers it).
        time.sleep(self.settings.settle_s)
        self._wait_for_logs(scenario, label, endpoint)
        cpu = {name: _cpu_or_zero(pid) - before[name] for name, pid in watched.items()}
        tracked_cpu = sum(_cpu_or_zero(pid) for pid in tracked) - tracked_before
        interference = Interference.between(machine_before, cpu_snapshot(), tracked_cpu)
        served_after = upstream_served(served_by)
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
