"""Benchmark scenarios as data: to add one, append a :class:`Scenario` to :data:`SCENARIOS`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

#: Path of the chat completions endpoint on the fake upstream (the direct path, and the baseline's).
DIRECT_CHAT_PATH = "/v1/chat/completions"
#: The same endpoint through the gateway: account ``local``, gateway ``default``, provider ``openai``.
GATEWAY_CHAT_PATH = "/v1/local/default/openai/chat/completions"

#: A rate-limit rule that never refuses (a trillion requests a minute): what checking a rule costs.
NON_BINDING_RULE: dict[str, Any] = {"limit": 1e12, "period": 60}
#: Token and spend rules that never refuse: what estimating, reserving and settling cost.
NON_BINDING_BUDGETS: list[dict[str, Any]] = [
    {"limit": 1e12, "period": 60, "unit": "tokens"},
    {"limit": 1e9, "period": 86400, "unit": "cost"},
]

#: Headers every request carries (the provider key travels in the provider's own header).
DEFAULT_HEADERS: dict[str, str] = {
    "Content-Type": "application/json",
    "Authorization": "Bearer sk-bench",
}


# Where a scenario's body takes the request's number, when each request must ask something new.
REQUEST_NUMBER = "@@N@@"


def chat_body(*, stream: bool = False, numbered: bool = False, **extra: Any) -> bytes:
    """A realistic chat completions request body (about 0.5 KB). `numbered`: the question ends with
    REQUEST_NUMBER, which wrk replaces with a counter (see `Scenario.numbered`)."""
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
                )
                + (f" (ticket {REQUEST_NUMBER})" if numbered else ""),
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
    """One load pattern, run against the direct path, the baseline proxy and the gateway (and, at one
    connection, against the floor: the same fake upstream on the gateway's core).

    ``duration_s`` is the nominal measured duration; it is multiplied by the ``BENCH_DURATION``
    scale factor. ``direct_path``/``gateway_path`` are request paths on the fake upstream and on
    the gateway respectively; the baseline (``bench/bare_proxy.py``) gets the direct path.
    ``direct_path=None`` means the scenario only makes sense through the gateway, and it is then
    reported without direct and baseline columns.

    A scenario can set the gateway's settings for its run (``gateway_settings``, PATCHed through the
    admin API before the run and put back after it) and add a ``control`` run through the same
    gateway process with other settings (``control_settings``), the two alternating in rounds: the
    difference between them is what a feature costs (e.g. a rate-limit rule against none).
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
    #: Gateway settings in force for the gateway run (merged, as the admin API's PATCH does).
    gateway_settings: dict[str, Any] = field(default_factory=dict)
    #: Settings of a "control" run through the same gateway process before the gateway run; None: none.
    control_settings: dict[str, Any] | None = None
    #: The gateway process of the gateway (and control) runs: "gateway" (in-process cache and
    #: counters), "gateway-redis" (``SLUICEGATE_CACHE_URL`` pointing at the local Redis) or
    #: "gateway-pg-redis" (that, and the database on the local PostgreSQL, in a schema of its own).
    gateway_server: str = "gateway"
    #: Send one unchecked request through the gateway before its pre-flight (e.g. to store a cache entry).
    prime: bool = False
    #: Headers the gateway's pre-flight answer must carry (value None: any value), e.g. a cache HIT.
    expect_gateway_headers: dict[str, str | None] = field(default_factory=dict)
    #: Direct, baseline and gateway take turns in this many rounds, each ``duration_s / rounds``
    #: long, the order reversed every other round. With a control run, control and gateway alternate
    #: so (ABBA order) and with − without is the median of the rounds' paired differences.
    rounds: int = 5
    #: Each request gets its own number in place of REQUEST_NUMBER in ``body``, so the question is
    #: new every time while the system prompt repeats, as in real traffic (nothing per-text that the
    #: gateway remembers, such as token counts, can answer from memory for the whole body).
    numbered: bool = False

    def headers_for(self, target: str) -> dict[str, str]:
        if target in ("gateway", "control"):
            return {**self.headers, **self.gateway_headers}
        return dict(self.headers)

    def path_for(self, target: str) -> str | None:
        return self.gateway_path if target in ("gateway", "control") else self.direct_path

    def gateway_id(self) -> tuple[str, str]:
        """(account, gateway slug) of ``gateway_path`` (``/v1/{account}/{gateway}/...``)."""
        parts = self.gateway_path.split("/")
        if len(parts) < 4 or parts[1] != "v1":
            raise ValueError(f"{self.name}: cannot tell the gateway of {self.gateway_path!r}")
        return parts[2], parts[3]


def feature_scenario(
    name: str,
    description: str,
    settings: dict[str, Any],
    without: dict[str, Any],
    expect_header: str,
    body: bytes | None = None,
    server: str = "gateway",
) -> Scenario:
    """One connection through `server` with `settings` against the same gateway with `without`
    (ABBA rounds): what a feature adds to a request. Each request's question is numbered."""
    return Scenario(
        name=name,
        description=description,
        connections=1,
        threads=1,
        duration_s=12,
        body=body if body is not None else chat_body(numbered=True),
        numbered=True,
        direct_path=None,
        control_settings=without,
        gateway_settings=settings,
        gateway_server=server,
        expect_gateway_headers={expect_header: None},
        rounds=6,
    )


def limit_scenario(
    name: str, description: str, rules: list[dict[str, Any]], server: str = "gateway"
) -> Scenario:
    """What non-binding `rules` add to a request, against no rule."""
    return feature_scenario(
        name, description, {"rate_limits": rules}, {"rate_limits": []}, "x-ratelimit-limit", server=server
    )


def guarded_body() -> bytes:
    """A 4 KB chat request: prose with dates, versions and figures, and one e-mail address (the
    built-in detectors' ordinary case: every detector scans, one finding is redacted)."""
    prose = (
        "Following up on the Q3 planning meeting of 2024-09-12: we agreed to ship v2.3.1 by October 15 "
        "and to cut the p95 latency from 340 ms to 200 ms. Please review the draft, comment on sections "
        "3 and 4, and say whether the 12 open tickets can be closed. "
    )
    question = (prose * 30)[:3900] + f" Reply to ops-lead@example.com (ticket {REQUEST_NUMBER})."
    body = orjson.loads(chat_body())
    body["messages"][-1]["content"] = question
    return orjson.dumps(body)


#: The built-in detectors on the request (the target is for a 4 KB request; answers are checked
#: apart, see `python -m bench.guardrails.speed`): personal data and secrets redacted, prompt
#: injection flagged.
GUARDRAILS: dict[str, Any] = {
    "pii": {"action": "redact", "direction": "request"},
    "prompt_injection": {"action": "flag"},
}


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
    Scenario(
        name="cache-hit",
        description="1 connection: the identical request again and again, every one an exact-cache hit",
        connections=1,
        threads=1,
        duration_s=10,
        body=chat_body(),
        gateway_settings={"cache_enabled": True},
        prime=True,
        expect_gateway_headers={"cf-aig-cache-status": "HIT"},
    ),
    Scenario(
        name="cache-hit-c32",
        description="32 connections, 2 threads: exact-cache hits under load",
        connections=32,
        threads=2,
        duration_s=10,
        body=chat_body(),
        gateway_settings={"cache_enabled": True},
        prime=True,
        expect_gateway_headers={"cf-aig-cache-status": "HIT"},
    ),
    limit_scenario(
        "ratelimit",
        "1 connection: a non-binding rate-limit rule vs no rule (in-process counters)",
        [NON_BINDING_RULE],
    ),
    limit_scenario(
        "ratelimit-redis",
        "1 connection: a non-binding rule vs none, counters in Redis (SLUICEGATE_CACHE_URL)",
        [NON_BINDING_RULE],
        server="gateway-redis",
    ),
    limit_scenario(
        "budget",
        "1 connection: non-binding token and cost rules vs no rule (in-process counters)",
        NON_BINDING_BUDGETS,
    ),
    limit_scenario(
        "budget-cost",
        "1 connection: one non-binding cost rule vs no rule (in-process counters)",
        [NON_BINDING_BUDGETS[1]],
    ),
    Scenario(
        name="slow-upstream",
        description="128 connections to an upstream that answers in 50 ms: many slow calls at once",
        connections=128,
        threads=2,
        duration_s=15,
        body=chat_body(),
        headers={**DEFAULT_HEADERS, "x-bench-delay-ms": "50"},
    ),
    *(
        Scenario(
            name=name,
            description=f"32 connections, exact cache and a request rule on: {where}",
            connections=32,
            threads=2,
            duration_s=15,
            body=chat_body(numbered=True),
            numbered=True,
            direct_path=None,
            gateway_settings={"cache_enabled": True, "rate_limits": [NON_BINDING_RULE]},
            gateway_server=server,
            expect_gateway_headers={"x-ratelimit-limit": None},
        )
        for name, server, where in (
            ("stores-embedded", "gateway", "the embedded stores (SQLite, in-process cache and counters)"),
            ("stores-redis", "gateway-pg-redis", "PostgreSQL logs, cache and counters in Redis"),
        )
    ),
    feature_scenario(
        "guardrails",
        "1 connection: the built-in guardrails on a 4 KB request vs none",
        {"guardrails": GUARDRAILS},
        {"guardrails": None},
        "x-sluicegate-guardrails",
        body=guarded_body(),
    ),
    limit_scenario(
        "budget-redis",
        "1 connection: non-binding token and cost rules vs none, counters in Redis",
        NON_BINDING_BUDGETS,
        server="gateway-redis",
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
