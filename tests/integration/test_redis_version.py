"""A Redis older than 6.0 keeps `serve` from starting, in one line and exit 2. redis-py 8 opens
each connection with HELLO 3, which Redis 5 does not know: without the check the gateway started
and took Redis for down, for good (every Redis feature on its outage policy, a log line per
feature). A fake Redis 5 on loopback answers a client's start as Redis 5 does; one that knows
HELLO but says it is 5.0 is refused by its INFO."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.fakes.old_redis import OldRedis
from tests.ports import free_port

EXIT_TIMEOUT = 30.0


@pytest.fixture(params=[False, True], ids=["without HELLO", "INFO says 5.0"])
def old_redis(request: pytest.FixtureRequest) -> Iterator[OldRedis]:
    with OldRedis("5.0.14", hello=request.param) as running:
        yield running


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "workers"])
def test_serve_refuses_a_redis_older_than_6(tmp_path: Path, old_redis: OldRedis, workers: int) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(tmp_path / "data"),
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SLUICEGATE_CACHE_URL": f"redis://:s3cret@127.0.0.1:{old_redis.port}/0",
    }
    command = [
        sys.executable,
        "-m",
        "sluicegate",
        "serve",
        "--port",
        str(free_port()),
        "--workers",
        str(workers),
    ]
    server = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = server.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        out, err = server.communicate()
        pytest.fail(f"serve ran with Redis 5.0.14:\n{out}{err}")

    assert server.returncode == 2, out + err
    assert "Sluicegate listening" not in out, out
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    why = "is version 5.0.14" if old_redis.hello else "does not know HELLO (older than 6.0)"
    assert errors == [
        f"error: Redis at 127.0.0.1:{old_redis.port} {why}; Sluicegate needs Redis 6.0 or later"
    ], err
