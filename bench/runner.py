"""Starting the fake upstream and the gateway, and running each scenario against both."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

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
from bench.scenarios import Scenario
from bench.wrk import WrkResult, lua_script, run_wrk

HOST = "127.0.0.1"
FAKE_UPSTREAM_SCRIPT = Path(__file__).with_name("fake_upstream.py")
TARGETS = ("direct", "gateway")


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


@dataclass(frozen=True, slots=True)
class Endpoint:
    target: str
    base_url: str
    child: Child


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

    def cpu_ms_per_request(self, name: str) -> float | None:
        if name not in self.cpu_s or not self.wrk.requests:
            return None
        return self.cpu_s[name] * 1000 / self.wrk.requests

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            **self.wrk.to_dict(),
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "cpu_ms_per_request": {k: _round(self.cpu_ms_per_request(k), 4) for k in self.cpu_s},
            "interference": {
                "other_cores": round(self.interference.other_cores, 3),
                "steal_cores": round(self.interference.steal_cores, 3),
                "noisy": self.interference.noisy,
            },
        }


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    runs: dict[str, RunResult] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat named figures for the report and the targets (``direct.rps``, ``added.p50_ms``...)."""
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
        if "direct" in self.runs and "gateway" in self.runs:
            for p in ("p50", "p90", "p99"):
                out[f"added.{p}_ms"] = out[f"gateway.{p}_ms"] - out[f"direct.{p}_ms"]
                if out[f"direct.{p}_ms"]:
                    out[f"ratio.{p}"] = out[f"gateway.{p}_ms"] / out[f"direct.{p}_ms"]
            if out["direct.rps"]:
                out["ratio.rps"] = out["gateway.rps"] / out["direct.rps"]
        return out

    def to_dict(self, scale: float) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "description": s.description,
            "connections": s.connections,
            "threads": s.threads,
            "duration_s": s.duration_s * scale,
            "stream": s.stream,
            "runs": {t: r.to_dict() for t, r in self.runs.items()},
            "metrics": {k: round(v, 4) for k, v in self.metrics().items()},
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


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

    # --- setup -------------------------------------------------------------------------------------

    def start_upstream(self) -> Endpoint:
        port = free_port(HOST)
        cmd = [sys.executable, str(FAKE_UPSTREAM_SCRIPT), "--host", HOST, "--port", str(port)]
        if self.settings.single_write_stream:
            cmd.append("--single-write-stream")
        child = self.group.start(
            "fake upstream",
            _pinned(cmd, self.settings.load_cpu),
            log_path=self.workdir / "fake_upstream.log",
        )
        base = f"http://{HOST}:{port}"
        wait_http_ok(f"{base}/healthz", child, deadline_s=self.settings.startup_deadline_s)
        endpoint = Endpoint("direct", base, child)
        self.endpoints["direct"] = endpoint
        self.log(f"fake upstream ready at {base} (pid {child.pid}, cpu {self.settings.load_cpu})")
        return endpoint

    def start_gateway(self) -> Endpoint:
        upstream = self.endpoints["direct"].base_url
        gateway_bin = self.settings.gateway_bin
        if not gateway_bin.exists():
            raise StartupError(
                f"the gateway executable {gateway_bin} does not exist (is the project installed, "
                "`pip install -e .`?); use --direct-only to measure the fake upstream alone"
            )
        data_dir = self.workdir / "gateway-data"
        data_dir.mkdir()
        port = free_port(HOST)
        inherited = sorted(k for k in os.environ if k.startswith("SLUICEGATE_"))
        if inherited:
            self.log(f"gateway inherits {', '.join(inherited)} from the environment")
        env = {
            **os.environ,
            "SLUICEGATE_DATA": str(data_dir),
            "SLUICEGATE_UPSTREAM_OPENAI": f"{upstream}/v1",
        }
        cmd = [str(gateway_bin), "serve", "--host", HOST, "--port", str(port)]
        child = self.group.start(
            "gateway", _pinned(cmd, self.settings.gateway_cpu), env=env, log_path=self.workdir / "gateway.log"
        )
        base = f"http://{HOST}:{port}"
        try:
            wait_http_ok(f"{base}/healthz", child, deadline_s=self.settings.startup_deadline_s)
        except StartupError as exc:
            raise StartupError(
                f"the gateway did not start: {exc}\n"
                f"command: SLUICEGATE_DATA={data_dir} SLUICEGATE_UPSTREAM_OPENAI={upstream}/v1 "
                f"{' '.join(cmd)}\n(use --direct-only to measure the fake upstream alone)"
            ) from exc
        endpoint = Endpoint("gateway", base, child)
        self.endpoints["gateway"] = endpoint
        self.log(f"gateway ready at {base} (pid {child.pid}, cpu {self.settings.gateway_cpu})")
        return endpoint

    # --- scenarios ---------------------------------------------------------------------------------

    def targets(self) -> list[str]:
        return [t for t in TARGETS if t in self.endpoints]

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        result = ScenarioResult(scenario)
        for target in self.targets():
            path = scenario.path_for(target)
            if path is None:
                continue
            result.runs[target] = self._run_one(scenario, target, path)
        return result

    def _run_one(self, scenario: Scenario, target: str, path: str) -> RunResult:
        scale = self.settings.scale
        url = self.endpoints[target].base_url + path
        headers = scenario.headers_for(target)
        preflight(url, scenario, headers)
        script = self.workdir / f"{scenario.name}-{target}.lua"
        script.write_text(lua_script(method=scenario.method, body=scenario.body, headers=headers))

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

        warm = wrk(scenario.warmup_s * scale)
        if warm.errors:
            self.log(f"  warning: {warm.errors} error(s) during the warm-up of {scenario.name}/{target}")
        time.sleep(self.settings.settle_s)
        watched = {"upstream": self.endpoints["direct"].child.pid}
        if target == "gateway":
            watched["gateway"] = self.endpoints["gateway"].child.pid
        # Every benchmark process, gateway or not, to tell other work on the machine apart.
        tracked = {ep.child.pid for ep in self.endpoints.values()}
        machine_before = cpu_snapshot()
        tracked_before = sum(cpu_seconds(pid) for pid in tracked)
        before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        measured = wrk(scenario.duration_s * scale)
        # Let after-response work (log batching, usage) for these requests land in the window.
        time.sleep(self.settings.settle_s)
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
        tracked_cpu = sum(cpu_seconds(pid) for pid in tracked) - tracked_before
        interference = Interference.between(machine_before, cpu_snapshot(), tracked_cpu)
        run = RunResult(target, url, measured, cpu, interference)
        cpu_txt = ", ".join(
            f"{name} {run.cpu_ms_per_request(name) or 0:.3f} ms CPU/req" for name in sorted(cpu)
        )
        if measured.errors:
            w = measured
            self.log(
                f"  [red]{scenario.name}/{target}: {w.errors} failed request(s): non-2xx {w.non2xx} "
                f"(first status {w.first_bad_status or '-'}), connect {w.errors_connect}, "
                f"read {w.errors_read}, write {w.errors_write}, timeout {w.errors_timeout}[/red]"
            )
        self.log(
            f"  {scenario.name:<12} {target:<8} {measured.rps:9.1f} req/s  "
            f"p50 {measured.p50_us / 1000:7.3f} ms  p99 {measured.p99_us / 1000:7.3f} ms  "
            f"errors {measured.errors}  ({cpu_txt})"
        )
        if interference.noisy:
            self.log(
                f"  [yellow]warning: other processes used {interference.other_cores:.2f} core(s) "
                f"(steal {interference.steal_cores:.2f}) during {scenario.name}/{target}: "
                "figures are disturbed[/yellow]"
            )
        return run


def preflight(url: str, scenario: Scenario, headers: dict[str, str]) -> None:
    """One request checked by hand before the load: 2xx and the right shape of answer."""
    request = urllib.request.Request(url, data=scenario.body, headers=headers, method=scenario.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status = resp.status
            content_type = resp.headers.get("Content-Type", "")
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PreflightError(f"{scenario.name}: POST {url} failed: {exc}") from exc
    if not 200 <= status < 300:
        raise PreflightError(f"{scenario.name}: POST {url} answered HTTP {status}")
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


class PreflightError(RuntimeError):
    pass
