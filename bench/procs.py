"""Child processes of the harness: start pinned, wait for readiness, account CPU time, clean up."""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")


class StartupError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None
    log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])


class ProcessGroup:
    """Owns every process the harness starts; :meth:`close` stops them all (SIGTERM, then SIGKILL).

    Each child runs in its own session, so a Ctrl-C in the terminal reaches only the harness, which
    then stops the children in order; the session also holds any grandchildren (e.g. a server's
    workers), which are stopped with it.
    """

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> Child:
        log_file = log_path.open("wb") if log_path else None
        try:
            proc = subprocess.Popen(
                list(cmd),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file if log_file else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            if log_file:
                log_file.close()
            raise StartupError(f"cannot start {name}: {' '.join(cmd)}: {exc}") from exc
        child = Child(name, proc, log_path, log_file)
        self.children.append(child)
        return child

    def run(self, cmd: Sequence[str], *, timeout: float) -> tuple[str, str, int]:
        """Run a command to completion (tracked, so an interrupt stops it too)."""
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        child = Child(str(cmd[0]), proc)
        self.children.append(child)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._stop(child)
            out, err = proc.communicate()
            return out.decode(errors="replace"), err.decode(errors="replace") + "\n(timed out)", -1
        finally:
            if proc.poll() is not None:
                self.children.remove(child)
        return out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode

    def close(self) -> None:
        for child in reversed(self.children):
            self._stop(child)
        self.children.clear()

    @staticmethod
    def _stop(child: Child, grace: float = 5.0) -> None:
        proc = child.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
        else:
            # The leader is gone; stop whatever it left in its session.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if child.log_file:
            child.log_file.close()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http_ok(url: str, child: Child, *, deadline_s: float) -> None:
    """Poll ``url`` until it answers 200; fail early if ``child`` exits, or after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    last = "no answer yet"
    while time.monotonic() < end:
        code = child.proc.poll()
        if code is not None:
            raise StartupError(
                f"{child.name} exited with code {code} before it was ready ({url}).\n"
                f"--- last lines of its output ---\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.1)
    raise StartupError(
        f"{child.name} was not ready within {deadline_s:.0f} s: GET {url} -> {last}.\n"
        f"--- last lines of its output ---\n{child.log_tail()}"
    )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after its closing parenthesis.
    return raw[raw.rfind(")") + 2 :].split()


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid``, or None when it cannot be read (gone, or outside this namespace)."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields is not None else None


def command_name(pid: int) -> str | None:
    """The process's name (``comm``), or None when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        for kid in children.get(pid, []):
            found.append(kid)
            stack.append(kid)
    return found


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and its live descendants, plus the CPU of children it has reaped."""
    for _ in range(3):
        fields = _stat_fields(pid)
        if fields is None:
            raise ProcessLookupError(pid)
        # After the comm field: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
        reaped = int(fields[13]) + int(fields[14])
        ticks = int(fields[11]) + int(fields[12]) + reaped
        for kid in _descendants(pid):
            kid_fields = _stat_fields(kid)
            if kid_fields is not None:
                ticks += int(kid_fields[11]) + int(kid_fields[12])
        # A child reaped during the scan would be counted twice or not at all: read again then
        # (a server such as PostgreSQL starts and reaps backends all the time).
        after = _stat_fields(pid)
        if after is not None and int(after[13]) + int(after[14]) == reaped:
            break
    return ticks / CLK_TCK


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """Machine-wide busy and steal CPU seconds, plus this process's own and its reaped children's."""

    at: float
    busy_s: float
    steal_s: float
    own_s: float
    reaped_children_s: float


def cpu_snapshot() -> CpuSnapshot:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # irq/softirq time is left out: it is mostly our own loopback traffic, charged to no process.
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[:8])
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        at=time.monotonic(),
        busy_s=(user + nice + system) / CLK_TCK,
        steal_s=steal / CLK_TCK,
        own_s=own.ru_utime + own.ru_stime,
        reaped_children_s=kids.ru_utime + kids.ru_stime,
    )


@dataclass(frozen=True, slots=True)
class Interference:
    """CPU used during a measured window by processes that are not part of the benchmark.

    ``other_cores`` is that CPU in cores (0.25 = a quarter of a core on average); ``steal_cores`` is
    time the hypervisor gave to other guests. Either one large means the figures are unreliable.
    """

    wall_s: float
    other_cores: float
    steal_cores: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot, tracked_cpu_s: float) -> Interference:
        wall = max(after.at - before.at, 1e-9)
        ours = (
            tracked_cpu_s
            + (after.own_s - before.own_s)
            + (after.reaped_children_s - before.reaped_children_s)
        )
        other = max(0.0, (after.busy_s - before.busy_s) - ours)
        return cls(wall, other / wall, (after.steal_s - before.steal_s) / wall)

    @classmethod
    def merged(cls, items: Sequence[Interference]) -> Interference:
        """Several windows as one: wall time summed, the loads weighted by time."""
        wall = sum(i.wall_s for i in items)
        return cls(
            wall,
            sum(i.other_cores * i.wall_s for i in items) / wall,
            sum(i.steal_cores * i.wall_s for i in items) / wall,
        )

    @property
    def noisy(self) -> bool:
        return self.other_cores > 0.10 or self.steal_cores > 0.05


class BenchLock:
    """One benchmark at a time per machine: two runs pinned to the same cores spoil each other."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or Path(tempfile.gettempdir()) / "sluicegate-bench.lock"
        self._file: IO[str] | None = None

    def acquire(self, *, timeout_s: float, on_wait: Callable[[str], None]) -> None:
        file = self.path.open("a+")
        end = time.monotonic() + timeout_s
        told = False
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    file.seek(0)
                    holder = file.read().strip() or "unknown"
                    on_wait(f"another benchmark run holds {self.path} (pid {holder}); waiting for it ...")
                    told = True
                if time.monotonic() > end:
                    file.close()
                    raise StartupError(
                        f"another benchmark run still holds {self.path} after {timeout_s:.0f} s"
                    ) from None
                time.sleep(1.0)
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
