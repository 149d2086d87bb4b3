"""The first-byte step of ``python -m bench``: how long a streaming client waits for its first event.

Run after the wrk scenarios, on the same processes (direct fake upstream, baseline proxy, gateway),
with :class:`bench.first_byte.FirstByteClient` pinned like wrk to the load core. The targets take
turns in rounds, the order reversed every other round, as the scenarios do. In each run one fresh
keep-alive connection warms up, then sends a streamed chat request (``chat_body(stream=True)``) and
a plain one, alternately: the streamed request's first SSE event and the plain request's whole
answer are timed. A target's figure is the median of its rounds' (p50, p99); added = the target's
minus direct's, with the range of the rounds' differences. The issue's target: the gateway's added
p50 of the first byte ≤ its added p50 of the plain request.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.endpoints import Endpoint
from bench.first_byte import Answer, FirstByteClient, FirstByteError, build_request
from bench.procs import Interference, cpu_seconds, cpu_snapshot
from bench.scenarios import DEFAULT_HEADERS, DIRECT_CHAT_PATH, GATEWAY_CHAT_PATH, chat_body
from bench.timings import percentiles

#: The step's name for ``--only`` and in the results.
FIRST_BYTE = "first-byte"
ROUNDS = 5
REQUESTS = 300  # of each kind (streamed, plain) per target and round
WARM_UP = 20  # of each kind on each new connection, not timed
#: The request path of each target (the baseline proxy passes the direct path on).
PATHS = {"direct": DIRECT_CHAT_PATH, "baseline": DIRECT_CHAT_PATH, "gateway": GATEWAY_CHAT_PATH}
#: The figures of a run, each in ms: the streamed request's first event (p50, p99) and whole
#: stream (p50), the plain request's whole answer (p50).
FIGURES = ("first_byte_p50_ms", "first_byte_p99_ms", "stream_p50_ms", "plain_p50_ms")
#: The figures compared with direct's ("added"), for the target.
ADDED = ("first_byte_p50_ms", "plain_p50_ms")


@dataclass(frozen=True, slots=True)
class RoundFigures:
    """One target's run in one round."""

    figures: dict[str, float]
    requests: int  # of each kind
    interference: Interference

    def to_dict(self) -> dict[str, Any]:
        return {
            # ms to the ns: `python -m bench.report` takes the medians again from these
            **{k: round(v, 6) for k, v in self.figures.items()},
            "requests": self.requests,
            "interference": asdict(self.interference),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundFigures:
        return cls(
            {k: float(data[k]) for k in FIGURES},
            int(data["requests"]),
            Interference(**data["interference"]),
        )


@dataclass(slots=True)
class FirstByteResult:
    """Each target's runs, round by round; :meth:`metrics` names the figures as the scenarios do."""

    rounds: dict[str, list[RoundFigures]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """``<target>.<figure>`` (the median over rounds), ``added.*`` (gateway − direct) and
        ``baseline_added.*`` (baseline − direct), with ``_min``/``_max`` over the rounds."""
        out: dict[str, float] = {}
        for target, runs in self.rounds.items():
            for name in FIGURES:
                out[f"{target}.{name}"] = statistics.median(r.figures[name] for r in runs)
        direct = self.rounds.get("direct", [])
        for target, prefix in (("gateway", "added"), ("baseline", "baseline_added")):
            if not direct or target not in self.rounds:
                continue
            for name in ADDED:
                out[f"{prefix}.{name}"] = out[f"{target}.{name}"] - out[f"direct.{name}"]
                paired = [
                    t.figures[name] - d.figures[name]
                    for t, d in zip(self.rounds[target], direct, strict=False)
                ]
                if len(paired) > 1:
                    out[f"{prefix}.{name}_min"], out[f"{prefix}.{name}_max"] = min(paired), max(paired)
        return out

    @property
    def requests(self) -> int:
        """Requests of each kind per target and round."""
        return max((r.requests for runs in self.rounds.values() for r in runs), default=0)

    def interference(self) -> dict[str, Interference]:
        return {
            target: Interference.merged([r.interference for r in runs])
            for target, runs in self.rounds.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {k: round(v, 4) for k, v in self.metrics().items()},
            "rounds": {t: [r.to_dict() for r in runs] for t, runs in self.rounds.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FirstByteResult:
        return cls({t: [RoundFigures.from_dict(r) for r in runs] for t, runs in data["rounds"].items()})


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """This thread on ``cpu`` meanwhile (as wrk would be), or left as it is for None."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def measure(
    endpoints: Mapping[str, Endpoint],
    *,
    cpu: int | None,
    log: Callable[[str], None],
    rounds: int = ROUNDS,
    requests: int = REQUESTS,
) -> FirstByteResult:
    """Direct, baseline and gateway (those of ``endpoints`` there are) in turns over ``rounds``."""
    targets = {name: endpoints[name] for name in PATHS if name in endpoints}
    tracked = [endpoint.child.pid for endpoint in endpoints.values()]
    result = FirstByteResult({name: [] for name in targets})
    with pinned(cpu):
        for index in range(rounds):
            order = list(targets) if index % 2 == 0 else list(reversed(targets))
            for name in order:
                run = _run(targets[name].base_url + PATHS[name], requests, tracked)
                result.rounds[name].append(run)
                f = run.figures
                label = f"{name} {index + 1}/{rounds}"
                log(
                    f"  {FIRST_BYTE:<15} {label:<14} first byte p50 "
                    f"{f['first_byte_p50_ms']:.3f} ms  p99 {f['first_byte_p99_ms']:.3f} ms  "
                    f"plain p50 {f['plain_p50_ms']:.3f} ms  ({requests} of each)"
                )
    return result


def _run(url: str, requests: int, tracked: list[int]) -> RoundFigures:
    """One connection to ``url``: a warm-up, then ``requests`` streamed and plain requests in turn."""
    where = urlsplit(url)
    stream = build_request(url, chat_body(stream=True), DEFAULT_HEADERS)
    plain = build_request(url, chat_body(), DEFAULT_HEADERS)
    with FirstByteClient(where.hostname or "127.0.0.1", where.port or 80) as client:
        _check(url, client.ask(stream, sse=True), client.ask(plain, sse=False))
        for _ in range(WARM_UP):
            client.ask(stream, sse=True)
            client.ask(plain, sse=False)
        firsts, streams, plains = [], [], []
        machine_before = cpu_snapshot()
        tracked_before = sum(cpu_seconds(pid) for pid in tracked)
        for _ in range(requests):
            streamed = client.ask(stream, sse=True)
            answered = client.ask(plain, sse=False)
            firsts.append(streamed.first_byte_s * 1000)
            streams.append(streamed.whole_s * 1000)
            plains.append(answered.whole_s * 1000)
        tracked_cpu = sum(cpu_seconds(pid) for pid in tracked) - tracked_before
        interference = Interference.between(machine_before, cpu_snapshot(), tracked_cpu)
    first = percentiles(firsts)
    figures = {
        "first_byte_p50_ms": first["p50_ms"],
        "first_byte_p99_ms": first["p99_ms"],
        "stream_p50_ms": percentiles(streams)["p50_ms"],
        "plain_p50_ms": percentiles(plains)["p50_ms"],
    }
    return RoundFigures(figures, requests, interference)


def _check(url: str, streamed: Answer, answered: Answer) -> None:
    """The answers are the right shape: a whole SSE stream, a chat completion."""
    if not streamed.body.rstrip().endswith(b"data: [DONE]"):
        raise FirstByteError(f"{url}: the stream did not end in [DONE]: {streamed.body[-120:]!r}")
    try:
        choices = orjson.loads(answered.body).get("choices")
    except (orjson.JSONDecodeError, AttributeError):
        choices = None
    if not choices:
        raise FirstByteError(f"{url}: the plain answer is not a chat completion: {answered.body[:200]!r}")
