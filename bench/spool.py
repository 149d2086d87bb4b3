"""``python -m bench.spool``: what writing a request's log record to the spool costs (no HTTP).

Times the two pieces the request path now pays per request, each in a loop of ``perf_counter``
samples after a warm-up: the spool's own part (the record as one NDJSON line copied into its
mapped segment in a temporary directory) and, apart, building the record from the exchange
(masking credentials, cutting bodies; moved from the logbook's worker thread for records without
redaction rules). Bodies of about 1 KB each way, as a typical chat completion. Prints p50 and p99
in ms; the budget is ≤ 0.02 ms p50 for the spool's part.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bench.timings import Figures, budget_lines, percentiles
from sluicegate.exchange import Exchange, IncomingRequest, RequestPlan
from sluicegate.exchange_records import ResponseRecord
from sluicegate.logformat import fast_record_line
from sluicegate.outcome import Outcome
from sluicegate.providers.base import Route
from sluicegate.records import RecordBuilder
from sluicegate.spool import Spool
from sluicegate.types import Usage

BUDGET_MS = 0.02
MESSAGES = [{"role": "user", "content": "Summarise the following text. " + "lorem ipsum " * 80}]
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "dolor sit amet " * 60}}],
    "usage": {"prompt_tokens": 180, "completion_tokens": 120, "total_tokens": 300},
}


def _exchange() -> Exchange:
    async def body() -> bytes:
        return b""

    headers = CIMultiDictProxy(
        CIMultiDict(
            {
                "authorization": "Bearer sk-bench-0123456789abcdef",
                "content-type": "application/json",
                "user-agent": "OpenAI/Python 1.0",
            }
        )
    )
    request = IncomingRequest("default", "openai", Route("local", "chat/completions"), "POST", headers, body)
    asked = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
    exchange = Exchange(request, plan=RequestPlan(asked))
    exchange.response = ResponseRecord(status=200, body=orjson.dumps(ANSWER))
    exchange.timings.finished_at = request.started + 0.3
    return exchange


def _samples(action: Callable[[], object], count: int) -> list[float]:
    for _ in range(2000):
        action()
    clock = time.perf_counter
    samples = []
    for _ in range(count):
        started = clock()
        action()
        samples.append((clock() - started) * 1000)
    return samples


def measure(count: int) -> Figures:
    """p50 and p99 in ms of the spool's part and of building the record, `count` samples each."""
    exchange = _exchange()
    outcome = Outcome(Usage(input_tokens=180, output_tokens=120), cost_usd=0.0001)
    builder = RecordBuilder(body_limit=256 * 1024)
    record = builder.build(exchange, outcome)
    with tempfile.TemporaryDirectory() as directory:
        spool = Spool(Path(directory), max_bytes=1 << 40)
        spool.open()
        try:
            timed = {
                "spool: line + copy": _samples(lambda: spool.append(fast_record_line(record)), count),
                "build the record (on the loop)": _samples(lambda: builder.build(exchange, outcome), count),
            }
        finally:
            spool.close()
    return {label: percentiles(samples) for label, samples in timed.items()}


def lines(figures: Figures, count: int) -> list[str]:
    """The report's lines, ending with the budget and whether the spool's part keeps it."""
    return budget_lines(figures, count, "records", BUDGET_MS, "spool: line + copy", "the spool's part", 34)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    count = parser.parse_args().count
    for line in lines(measure(count), count):
        print(line)


if __name__ == "__main__":
    main()
