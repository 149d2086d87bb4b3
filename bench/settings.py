"""How a bench run is set up: durations, the cores to pin to, which processes to start and the
stores the gateway processes use (the command line's choices)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.postgres_schema import DEFAULT_POSTGRES_URL

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
