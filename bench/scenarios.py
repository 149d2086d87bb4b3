"""Benchmark scenarios as data: to add one, append a :class:`Scenario` to :data:`SCENARIOS`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

#: Path of the chat completions endpoint on the fake upstream (the direct path).
DIRECT_CHAT_PATH = "/v1/chat/completions"
#: The same endpoint through the gateway: account ``local``, gateway ``default``, provider ``openai``.
GATEWAY_CHAT_PATH = "/v1/local/default/openai/chat/completions"

#: Headers every request carries (the provider key travels in the provider's own header).
DEFAULT_HEADERS: dict[str, str] = {
    "Content-Type": "application/json",
    "Authorization": "Bearer sk-bench",
}


def chat_body(*, stream: bool = False, **extra: Any) -> bytes:
    """A realistic chat completions request body (about 0.5 KB)."""
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "system",
                "content": "You are a concise assistant for an operations team. Answer in plain prose.",
            },
            {
                "role": "user",
                "content": (
                    "Our nightly batch job started failing after we rotated the database credentials. "
                    "The logs show 'password authentication failed' for the reporting user. "
                    "What should we check first, and in which order?"
                ),
            },
        ],
        "temperature": 0.2,
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load pattern, run once against the direct path and once against the gateway.

    ``duration_s`` is the nominal measured duration; it is multiplied by the ``BENCH_DURATION``
    scale factor. ``direct_path``/``gateway_path`` are request paths on the fake upstream and on
    the gateway respectively; ``direct_path=None`` means the scenario only makes sense through the
    gateway (e.g. a cache hit), and it is then reported without a direct column.
    """

    name: str
    description: str
    connections: int
    threads: int
    duration_s: float
    body: bytes
    gateway_path: str = GATEWAY_CHAT_PATH
    direct_path: str | None = DIRECT_CHAT_PATH
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HEADERS))
    #: Extra gateway headers (e.g. a cache TTL or a rate limit token) that the direct path does not get.
    gateway_headers: dict[str, str] = field(default_factory=dict)
    #: Whether the response is an SSE stream (used by the pre-flight correctness check).
    stream: bool = False
    #: Warm-up duration before the measured run (also scaled by ``BENCH_DURATION``).
    warmup_s: float = 2.0

    def headers_for(self, target: str) -> dict[str, str]:
        if target == "gateway":
            return {**self.headers, **self.gateway_headers}
        return dict(self.headers)

    def path_for(self, target: str) -> str | None:
        return self.gateway_path if target == "gateway" else self.direct_path


SCENARIOS: list[Scenario] = [
    Scenario(
        name="sequential",
        description="1 connection, 1 thread: per-request latency and the gateway's added latency",
        connections=1,
        threads=1,
        duration_s=10,
        body=chat_body(),
    ),
    Scenario(
        name="concurrent",
        description="32 connections, 2 threads: throughput under load",
        connections=32,
        threads=2,
        duration_s=15,
        body=chat_body(),
    ),
    Scenario(
        name="streaming",
        description="32 connections, stream=true: whole SSE streams",
        connections=32,
        threads=2,
        duration_s=15,
        body=chat_body(stream=True),
        stream=True,
    ),
]


def by_name(names: list[str]) -> list[Scenario]:
    """The scenarios named (in :data:`SCENARIOS` order); unknown names raise ``KeyError``."""
    known = {s.name for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    wanted = set(names)
    return [s for s in SCENARIOS if s.name in wanted]
