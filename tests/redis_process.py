"""A redis-server of a test's own, on a port of its own, that the test may kill and start again
(the shared Redis of the other tests is never touched)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisProcess:
    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self._directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server: subprocess.Popen[bytes] | None = None

    @classmethod
    def binary(cls) -> str | None:
        return shutil.which("redis-server")

    def start(self) -> None:
        """Start it (again: on the same port, empty, as after a crash without persistence) and
        return once it answers."""
        self._server = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self._server.poll() is not None:
                        raise RuntimeError("redis-server exited at start") from None
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; returns once the process is gone."""
        if self._server is not None:
            self._server.kill()
            self._server.wait()
            self._server = None
