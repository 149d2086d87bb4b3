"""Time the built-in detectors on 4 KB requests (p50 and p99 of `time.perf_counter` loops):

    python -m bench.guardrails.speed [--rounds 3000]

`prose` is a chat turn with a few numbers and one e-mail address, `numbers` a table of figures
and dates (the detectors' worst ordinary case), `pii` a text dense with matches; `stream` feeds
`prose` through the stream redactor in 16-character pieces and reports the time per piece; `sse`
the time per event of an OpenAI chat stream through the SSE filter (parse, redact, re-encode),
its text in 16-character content deltas, then the same text as a tool call's JSON arguments in
16-character fragments, then arguments of many small values (2000 integers; 500 objects of a
short string and a number; 1000 ten-digit ids) in 16-character fragments; `stage` is what the
gateway's Guardrails stage adds to a 4 KB OpenAI chat request (walk, redact, re-read the body's
facts), to its 4 KB JSON answer and to a JSON answer whose tool call's arguments hold 2000
integers.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

import orjson

from sluicegate.guardrails.bodies import rewrite
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.policy import parse_policy
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.pipeline import guardrails as guarded
from sluicegate.pipeline.guardrail_findings import Findings
from sluicegate.providers.openai_texts import CHAT_TEXTS

SIZE = 4096
PROSE = (
    "Hi team, following up on the Q3 planning meeting from 2024-09-12: we agreed to ship v2.3.1 by "
    "October 15 and to cut the p95 latency from 340 ms to 200 ms. Please review the attached draft, "
    "leave comments on sections 3 and 4, and let me know if the 12 open tickets can be closed. "
)
NUMBERS = "| 2024-09-12 | 1,234.56 | 17.5% | 10.0.3 | 4400 | 12:30 | 0.125 | 98765 |\n"
PII = (
    "Contact jane.doe@example.com or +1 (415) 555-2671, card 4111 1111 1111 1111, "
    "IBAN DE89 3704 0044 0532 0130 00, host 192.168.10.20, key AKIAIOSFODNN7EXAMPLE. "
)


def sized(text: str) -> str:
    return (text * (SIZE // len(text) + 1))[:SIZE]


def percentiles(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    for _ in range(min(rounds, 200)):
        call()  # warm RE2's lazily built DFAs
    timings = []
    gc.disable()
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            timings.append(time.perf_counter() - started)
    finally:
        gc.enable()
    timings.sort()
    return timings[len(timings) // 2] * 1e3, timings[int(len(timings) * 0.99)] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    scanner = Scanner(builtin_detectors())
    guard = Guard(parse_policy({"pii": {"action": "redact"}}))
    print(f"built-in detectors, {SIZE}-character texts, {args.rounds} rounds (ms):")
    for name, text in (("prose", sized(PROSE)), ("numbers", sized(NUMBERS)), ("pii", sized(PII))):

        def redacted(text: str = text) -> object:
            return redact(text, scanner, Vault())

        p50, p99 = percentiles(redacted, args.rounds)
        print(f"  redact {name:8} p50 {p50:.3f}  p99 {p99:.3f}  ({len(scanner.find(text))} spans)")
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": sized(PROSE)}]})

    def request() -> None:
        document = orjson.loads(body)
        vault = Vault()
        rewrite(CHAT_TEXTS, document, lambda text, role: guard.inspect(text, "request", vault).text)
        orjson.dumps(document)

    p50, p99 = percentiles(request, args.rounds)
    print(f"  chat request body (parse, walk, redact, dump) p50 {p50:.3f}  p99 {p99:.3f}")
    prose = sized(PROSE)

    def stream() -> None:
        redactor = StreamRedactor(scanner, Vault())
        for start in range(0, len(prose), 16):
            redactor.feed(prose[start : start + 16])
        redactor.close()

    p50, p99 = percentiles(stream, max(args.rounds // 20, 20))
    pieces = len(prose) // 16
    print(f"  stream, 16-character pieces: p50 {p50 / pieces * 1e3:.1f} µs per piece")
    sse(scanner, prose, max(args.rounds // 20, 20))
    stage(args.rounds)


def sse(scanner: Scanner, prose: str, rounds: int) -> None:
    """A chat stream's events through the SSE filter: text deltas, then tool call arguments."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}

    def chunk(delta: dict[str, object]) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"

    def fragments(value: object) -> list[bytes]:
        arguments = orjson.dumps(value).decode()
        return [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[at : at + 16]}}]})
            for at in range(0, len(arguments), 16)
        ]

    kinds = {
        "text delta": [chunk({"content": prose[at : at + 16]}) for at in range(0, len(prose), 16)],
        "arguments delta": fragments({"note": prose, "copies": 2}),
        "arguments delta, 2000 ints": fragments({"values": list(range(2000))}),
        "arguments delta, 500 objects": fragments({"rows": [{"k": "a", "v": n} for n in range(500)]}),
        "arguments delta, 1000 ids": fragments({"ids": [1_733_500_000 + n for n in range(1000)]}),
    }
    for name, events in kinds.items():

        def stream(events: list[bytes] = events) -> None:
            vault = Vault()
            sse = SseTextFilter(CHAT_TEXTS, lambda: TextPipe(StreamRedactor(scanner, vault), None))
            for event in events:
                sse.feed(event)
            sse.close()

        p50, _ = percentiles(stream, rounds)
        print(f"  sse, chat {name} events: p50 {p50 / len(events) * 1e3:.1f} µs per event")


def stage(rounds: int) -> None:
    """The Guardrails stage's own work on one request and its answer, as the gateway runs it."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
    from sluicegate.gateway import Gateway, GatewaySettings
    from sluicegate.providers import registry
    from sluicegate.providers.base import Route

    policy = parse_policy({"pii": {"action": "redact"}})
    compiled = guarded.compile_policy(policy)
    gateway = Gateway(
        account="a", slug="g", name="g", settings=GatewaySettings(guardrails=policy), created_at=0
    )
    openai = registry({})["openai"]
    route = Route("a", "chat/completions")
    body = orjson.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": sized(PII[:60] + PROSE)}]}
    )
    answer = orjson.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": sized(PROSE)}}]}
    )
    numbers = orjson.dumps({"values": list(range(2000))}).decode()
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": numbers}}
    values = orjson.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}
    )
    facts = openai.read_request(route, body)

    async def read() -> bytes:
        return body

    def exchange() -> Exchange:
        step = Step(openai, route, CIMultiDict(), body, facts)
        headers = CIMultiDictProxy(CIMultiDict[str]())
        request = IncomingRequest("g", "openai", route, "POST", headers, read)
        return Exchange(request, gateway=gateway, plan=RequestPlan(steps=[step]))

    def request() -> None:
        current = exchange()
        guarded.guard_request(compiled.guard, current.request, current.plan, Vault())

    def response(answer: bytes = answer) -> None:
        current = exchange()
        reply = Reply(200, CIMultiDict({"Content-Type": "application/json"}), body=answer)
        guarded.check_answer(
            reply.body,
            CHAT_TEXTS,
            compiled.guard,
            Vault(),
            Findings(current.guardrails.findings),
            restore=False,
        )

    baseline, _ = percentiles(exchange, rounds)
    p50, p99 = percentiles(request, rounds)
    print(f"  stage, 4 KB chat request: p50 {p50 - baseline:.3f} added  p99 {p99:.3f}")
    p50, p99 = percentiles(response, rounds)
    print(f"  stage, 4 KB JSON answer: p50 {p50 - baseline:.3f} added  p99 {p99:.3f}")
    p50, p99 = percentiles(lambda: response(values), max(rounds // 20, 20))
    print(f"  stage, JSON answer, 2000 integers in arguments: p50 {p50 - baseline:.3f} added  p99 {p99:.3f}")


if __name__ == "__main__":
    main()
