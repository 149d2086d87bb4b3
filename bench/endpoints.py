"""The processes under test, started and pinned to their cores: the fake upstream (direct), the
same fake on the gateway's core (floor), the bare aiohttp proxy (baseline) and the gateway
processes (embedded stores, Redis, PostgreSQL and Redis), each an `Endpoint` the runs aim at."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.postgres_schema import BenchSchema, PostgresUnavailable
from bench.procs import Child, ProcessGroup, StartupError, free_port, wait_http_ok
from bench.redis_probe import RedisProbe, RedisUnavailable
from bench.settings import Settings

HOST = "127.0.0.1"
FAKE_UPSTREAM_SCRIPT = Path(__file__).with_name("fake_upstream.py")
BARE_PROXY_SCRIPT = Path(__file__).with_name("bare_proxy.py")


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
    #: The PostgreSQL server behind this gateway (its CPU is counted), if any.
    postgres_pid: int | None = None


class ScenarioSkipped(RuntimeError):
    """A scenario cannot run here (e.g. no Redis): reported and skipped, the others still run."""


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


class Processes:
    """The processes under test, started once for all the scenarios, and their endpoints by name."""

    def __init__(
        self, settings: Settings, group: ProcessGroup, workdir: Path, log: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.group = group
        self.workdir = workdir
        self.log = log
        self.endpoints: dict[str, Endpoint] = {}
        #: Gateway processes that could not start (name → why), so each is tried once.
        self.unavailable: dict[str, str] = {}
        #: PostgreSQL schemas made for this run, dropped by `close`.
        self.schemas: list[BenchSchema] = []

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
        postgres_pid: int | None = None
        extra_env: dict[str, str] = {}
        if name == "gateway-pg-redis":
            schema = BenchSchema(self.settings.postgres_url)
            try:
                schema.check()
                postgres_pid = schema.server_pid()
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
        endpoint = Endpoint(
            name, base, child, "gateway", redis=redis, redis_pid=redis_pid, admin_token=token,
            postgres_pid=postgres_pid,
        )  # fmt: skip
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
