"""``make soak`` (``python -m bench.soak``): does the gateway's memory stay flat under long load?

One gateway (``sluicegate serve``, fresh data directory) in front of the fast fake upstream
(``bench/fake_upstream.py``) takes a paced, mixed load for ``--duration`` seconds (600 by default):

| share | request |
|---|---|
| 35 % | plain chat completion, a new question each time (a new log record, no cache) |
| 25 % | the same, streamed |
| 20 % | exact cache: gateway ``cached``, questions from a pool of 50 (hits once each is stored) |
| 5 % | semantic cache: gateway ``semantic``, paraphrases of 10 questions |
| 15 % | failing: the ``anthropic`` provider, whose upstream refuses connections (502) |

The gateway's RSS is read every ``SAMPLE_S`` seconds. Growth is measured from the first sample
after the warm-up (the first fifth of the run: caches, the semantic index and the models fill
it) to the median of the last three samples; the target is ≤ 5 %. Two checks follow the load:

- **per connection**: RSS before and after opening ``CONNECTIONS`` keep-alive connections that
  each made one request, divided by their number;
- **stalled reader**: a streamed request for a 256 MB answer (``x-bench-stream-events``) whose
  client reads 256 KB and stops; after ``STALL_S`` seconds, how much the upstream has sent and how
  much the gateway's RSS grew. A gateway that relays with backpressure holds what the socket
  buffers hold (tens of MB at most); one that buffered the answer would grow by hundreds.

Results go to stdout and ``bench/results/soak-latest.json``. Exit 1 when a target is not met.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from bench.fake_upstream import LONG_EVENT, LONG_HEADER
from bench.procs import BenchLock, ProcessGroup, free_port, wait_http_ok

SAMPLE_S = 10.0
RATE = 120.0  # requests per second, all kinds together
CONCURRENCY = 16
GROWTH_TARGET = 0.05
CONNECTIONS = 1000
STALL_S = 5.0
LONG_EVENTS = 256 * 2**20 // len(LONG_EVENT)
RESULTS = Path(__file__).parent / "results" / "soak-latest.json"
TOPICS = [
    "reset my password", "change my email", "delete my account", "export my data", "enable 2FA",
    "update billing", "cancel my plan", "invite a teammate", "rotate an API key", "raise a limit",
]  # fmt: skip
PHRASES = ["How do I {}?", "How can I {}?", "What are the steps to {}?"]
MIX = [("plain", 35), ("stream", 25), ("cached", 20), ("semantic", 5), ("failing", 15)]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Soak:
    def __init__(self, gateway: str, token: str) -> None:
        self.gateway = gateway
        self.admin = {"Authorization": f"Bearer {token}"}
        self.counts: dict[str, dict[int, int]] = {kind: {} for kind, _ in MIX}
        self.errors: list[str] = []
        self._serial = itertools.count()
        self._kinds = [kind for kind, weight in MIX for _ in range(weight)]

    def request(self) -> tuple[str, str, dict[str, Any]]:
        """The next request of the mix: its kind, path and JSON body."""
        n = next(self._serial)
        kind = self._kinds[(n * 37) % len(self._kinds)]  # spread evenly, not in runs
        chat = "/openai/chat/completions"
        ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {n}"}]}
        if kind == "stream":
            return kind, "/v1/local/default" + chat, ask | {"stream": True}
        if kind == "cached":
            ask["messages"] = [{"role": "user", "content": f"cached question {n % 50}"}]
            return kind, "/v1/local/cached" + chat, ask
        if kind == "semantic":
            topic, phrase = TOPICS[n % len(TOPICS)], PHRASES[(n // len(TOPICS)) % len(PHRASES)]
            ask["messages"] = [{"role": "user", "content": phrase.format(topic)}]
            return kind, "/v1/local/semantic" + chat, ask
        if kind == "failing":
            body = {"model": "claude-3-5-haiku-latest", "max_tokens": 16, "messages": ask["messages"]}
            return kind, "/v1/local/default/anthropic/v1/messages", body
        return kind, "/v1/local/default" + chat, ask

    async def load(self, duration: float, samples: list[tuple[float, int]], pid: int) -> None:
        started = time.monotonic()
        ends = started + duration
        tick = itertools.count()

        async def worker(session: aiohttp.ClientSession) -> None:
            while (slot := started + next(tick) / RATE) < ends:  # paced: one slot per request
                await asyncio.sleep(max(0.0, slot - time.monotonic()))
                kind, path, body = self.request()
                try:
                    async with session.post(self.gateway + path, json=body) as response:
                        await response.read()
                        counted = self.counts[kind]
                        counted[response.status] = counted.get(response.status, 0) + 1
                except aiohttp.ClientError as exc:
                    self.errors.append(f"{kind}: {exc!r}")

        async def sampler() -> None:
            while time.monotonic() < ends:
                samples.append((round(time.monotonic() - started, 1), rss_bytes(pid)))
                await asyncio.sleep(min(SAMPLE_S, max(0.0, ends - time.monotonic())))
            samples.append((round(time.monotonic() - started, 1), rss_bytes(pid)))

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await asyncio.gather(sampler(), *(worker(session) for _ in range(CONCURRENCY)))

    async def per_connection(self, pid: int) -> float:
        before = rss_bytes(pid)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> None:
                async with session.get(self.gateway + "/healthz") as response:
                    await response.read()

            await asyncio.gather(*(one() for _ in range(CONNECTIONS)))  # each on a connection of its own
            after = rss_bytes(pid)
        return (after - before) / CONNECTIONS

    def stalled_reader(self, pid: int, upstream: str) -> dict[str, float]:
        body = json.dumps(
            {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        )
        host, port = self.gateway.removeprefix("http://").split(":")
        before_rss, before_sent = rss_bytes(pid), upstream_stats(upstream)["long_stream_bytes"]
        with socket.create_connection((host, int(port))) as client:
            head = (
                "POST /v1/local/default/openai/chat/completions HTTP/1.1\r\nHost: soak\r\n"
                f"{LONG_HEADER}: {LONG_EVENTS}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            client.sendall((head + body).encode())
            received = 0
            while received < 256 * 1024:
                received += len(client.recv(65536))
            time.sleep(STALL_S)  # the reader stalls: what happens meanwhile is the measurement
            grown, sent = (
                rss_bytes(pid) - before_rss,
                upstream_stats(upstream)["long_stream_bytes"] - before_sent,
            )
        return {
            "answer_mb": LONG_EVENTS * len(LONG_EVENT) / 2**20,
            "sent_mb": sent / 2**20,
            "rss_growth_mb": grown / 2**20,
        }


def upstream_stats(upstream: str) -> dict[str, int]:
    with urllib.request.urlopen(upstream + "/stats", timeout=5) as response:
        stats: dict[str, int] = json.loads(response.read())
        return stats


def admin(gateway: str, token: str, method: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        gateway + "/api/v1/accounts/local/gateways" + path, data=json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()


def growth(samples: list[tuple[float, int]], warm_up: float) -> tuple[int, int, float]:
    after = [rss for at, rss in samples if at >= warm_up]
    base, end = after[0], int(statistics.median([rss for _, rss in samples[-3:]]))
    return base, end, (end - base) / base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sustained mixed load; RSS every 10 s")
    parser.add_argument("--duration", type=float, default=float(os.environ.get("SOAK_DURATION", 600)))
    args = parser.parse_args(argv)
    lock = BenchLock()
    lock.acquire(timeout_s=3600, on_wait=lambda message: print(message, flush=True))
    try:
        return run(args.duration)
    finally:
        lock.release()


def run(duration: float) -> int:
    token = "sg_soak-" + secrets.token_hex(16)
    with ProcessGroup() as group, tempfile.TemporaryDirectory(prefix="sluicegate-soak-") as scratch:
        upstream_port, gateway_port, refused = free_port(), free_port(), free_port()
        upstream = f"http://127.0.0.1:{upstream_port}"
        fake_cmd = [
            sys.executable,
            str(Path(__file__).parent / "fake_upstream.py"),
            "--port",
            str(upstream_port),
        ]
        fake = group.start("upstream", fake_cmd, log_path=Path(scratch) / "upstream.log")
        wait_http_ok(upstream + "/healthz", fake, deadline_s=30)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
            "SLUICEGATE_DATA": str(Path(scratch) / "data"),
            "SLUICEGATE_UPSTREAM_OPENAI": upstream + "/v1",
            "SLUICEGATE_UPSTREAM_ANTHROPIC": f"http://127.0.0.1:{refused}",  # nothing listens: 502
            "SLUICEGATE_ADMIN_TOKEN": token,
        }
        gateway = f"http://127.0.0.1:{gateway_port}"
        serve = [sys.executable, "-m", "sluicegate", "serve", "--port", str(gateway_port)]
        server = group.start("gateway", serve, env=env, log_path=Path(scratch) / "gateway.log")
        wait_http_ok(gateway + "/healthz", server, deadline_s=60)
        for slug, settings in (
            ("cached", {"cache_enabled": True}),
            ("semantic", {"semantic_cache_enabled": True}),
        ):
            admin(gateway, token, "POST", "", {"name": slug})
            admin(gateway, token, "PATCH", f"/{slug}", {"settings": settings})
        soak = Soak(gateway, token)
        samples: list[tuple[float, int]] = []
        print(f"soak: {duration:.0f} s at {RATE:.0f} req/s, RSS every {SAMPLE_S:.0f} s", flush=True)
        asyncio.run(soak.load(duration, samples, server.pid))
        base, end, grew = growth(samples, warm_up=duration / 5)
        per_connection = asyncio.run(soak.per_connection(server.pid))
        stalled = soak.stalled_reader(server.pid, upstream)
    report = {
        "duration_s": duration,
        "rate": RATE,
        "requests": soak.counts,
        "client_errors": soak.errors[:20],
        "rss_samples": [{"at_s": at, "rss_mb": round(rss / 2**20, 1)} for at, rss in samples],
        "rss_after_warm_up_mb": round(base / 2**20, 1),
        "rss_end_mb": round(end / 2**20, 1),
        "growth": round(grew, 4),
        "growth_met": grew <= GROWTH_TARGET,
        "per_connection_kb": round(per_connection / 1024, 1),
        "stalled_reader": {k: round(v, 1) for k, v in stalled.items()},
        "stalled_reader_met": stalled["sent_mb"] < stalled["answer_mb"] / 4,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for at, rss in samples:
        print(f"  {at:7.1f} s  {rss / 2**20:8.1f} MB")
    print(f"requests by kind and status: {soak.counts}; client errors: {len(soak.errors)}")
    print(f"RSS growth after warm-up: {base / 2**20:.1f} -> {end / 2**20:.1f} MB = {grew:+.1%} "
          f"(target <= {GROWTH_TARGET:.0%}: {'met' if report['growth_met'] else 'NOT MET'})")  # fmt: skip
    print(f"per connection: {per_connection / 1024:.1f} KB over {CONNECTIONS} keep-alive connections")
    print(f"stalled reader: the upstream sent {stalled['sent_mb']:.1f} of {stalled['answer_mb']:.0f} MB in "
          f"{STALL_S:.0f} s; gateway RSS {stalled['rss_growth_mb']:+.1f} MB "
          f"({'met' if report['stalled_reader_met'] else 'NOT MET'})")  # fmt: skip
    print(f"written to {RESULTS}")
    return 0 if report["growth_met"] and report["stalled_reader_met"] and not soak.errors else 1


if __name__ == "__main__":
    sys.exit(main())
