"""The local Redis, seen through ``redis-cli``: reachable?, its pid, its command counters, cleanup.

The round trips a gateway makes per request are ``INFO commandstats`` deltas over a measured run
(calls per command, divided by the requests). Those counters are server-wide: another client busy
on the same Redis meanwhile shows up in them, which is why the harness also counts them during a
run that should make no Redis call at all (the control run, without a rate-limit rule).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Commands the harness itself sends while it measures (never charged to the gateway).
OWN_COMMANDS = frozenset({"info", "ping", "scan", "del", "unlink", "command", "hello", "client"})


_BY_SCRIPT = re.compile(r"^\S+ \[\d+ lua\]")


class RedisUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RedisProbe:
    """``url`` is ``redis://host:port/db`` without a query; ``prefix`` is this run's key prefix."""

    url: str
    prefix: str

    @classmethod
    def for_url(cls, url: str) -> RedisProbe:
        return cls(url.split("?", 1)[0], f"bench-{secrets.token_hex(4)}:")

    @property
    def gateway_url(self) -> str:
        """The ``SLUICEGATE_CACHE_URL`` of the gateway: the same server, this run's key prefix."""
        return f"{self.url}?prefix={self.prefix}"

    def _command(self) -> list[str]:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisUnavailable("redis-cli is not installed (apt-get install redis-tools)")
        parts = urlsplit(self.url)
        cmd = [cli, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
        db = parts.path.lstrip("/")
        if db:
            cmd += ["-n", db]
        return cmd

    def _cli(self, *args: str, timeout: float = 5.0) -> str:
        cmd = self._command()
        try:
            proc = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RedisUnavailable(f"redis-cli {' '.join(args)} failed: {exc}") from exc
        out = proc.stdout.strip()
        if proc.returncode != 0 or out.startswith(("Could not connect", "ERR", "NOAUTH")):
            detail = (proc.stderr.strip() or out)[-300:]
            raise RedisUnavailable(f"redis-cli {' '.join(args)} at {self.url}: {detail}")
        return out

    def ping(self) -> None:
        out = self._cli("ping")
        if out != "PONG":
            raise RedisUnavailable(f"PING to {self.url} answered {out!r}")

    def info(self, section: str) -> dict[str, str]:
        fields: dict[str, str] = {}
        for line in self._cli("info", section).splitlines():
            key, sep, value = line.strip().partition(":")
            if sep and not key.startswith("#"):
                fields[key] = value
        return fields

    def pid(self) -> int | None:
        """The server's pid (to account its CPU), or None when it is not a local process."""
        value = self.info("server").get("process_id", "")
        return int(value) if value.isdigit() else None

    def version(self) -> str:
        return self.info("server").get("redis_version", "unknown")

    def command_calls(self) -> dict[str, int]:
        """Calls so far per command (``cmdstat_evalsha:calls=12,...`` → ``{"evalsha": 12}``)."""
        calls: dict[str, int] = {}
        for key, value in self.info("commandstats").items():
            if not key.startswith("cmdstat_"):
                continue
            for item in value.split(","):
                name, _, number = item.partition("=")
                if name == "calls":
                    calls[key.removeprefix("cmdstat_")] = int(number)
        return calls

    def round_trips(self, action: Callable[[], object]) -> int:
        """The commands clients sent under this run's key prefix while `action` ran, as MONITOR
        sees them: each is at most one round trip (a script's own commands are not counted). Not
        for a measured run: MONITOR slows the server down."""
        with subprocess.Popen([*self._command(), "monitor"], stdout=subprocess.PIPE, text=True) as monitor:
            assert monitor.stdout is not None
            try:
                if monitor.stdout.readline().strip() != "OK":
                    raise RedisUnavailable(f"MONITOR on {self.url} did not start")
                action()
                marker = f"{self.prefix}end-{secrets.token_hex(4)}"
                self._cli("echo", marker)
                return sent_under(monitor.stdout, self.prefix, marker)
            finally:
                monitor.kill()  # MONITOR runs until its client goes

    def cleanup(self) -> int:
        """Delete this run's keys (rate-limit counters expire by themselves a minute later anyway)."""
        keys = self._cli("--scan", "--pattern", f"{self.prefix}*", timeout=30).split()
        for start in range(0, len(keys), 500):
            self._cli("del", *keys[start : start + 500])
        return len(keys)


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Per-command calls made between two snapshots, without the harness's own commands."""
    delta = {
        name: count - before.get(name, 0)
        for name, count in after.items()
        if name.split("|")[0] not in OWN_COMMANDS
    }
    return {name: count for name, count in sorted(delta.items()) if count > 0}


def sent_under(lines: Iterable[str], prefix: str, marker: str) -> int:
    """MONITOR lines naming a key under `prefix` that a client sent (not a script: `[0 lua]`),
    up to the line that carries `marker`."""
    sent = 0
    for line in lines:
        if marker in line:
            return sent
        if prefix in line and not _BY_SCRIPT.search(line):
            sent += 1
    raise RedisUnavailable("MONITOR ended before the end marker")
