"""Guardrails: the stage right after Plan, so the cache key and everything upstream see the
request as the gateway's `guardrails` setting leaves it.

Request direction: each step's body is read with the walker of its API shape; a blocking match
is a 400 `guardrail_blocked` that names the detector (never the text) and nothing goes upstream,
a redacting one becomes a typed placeholder, a flag is only noted. Response direction: a JSON
answer is redacted (and, with `restore`, the request's placeholders are mapped back), a streamed
one is filtered delta by delta. Cache hits come from the stages below, so they pass here too.
Findings go to `x-sluicegate-guardrails`, the log record's metadata and the metrics.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.errors import GuardrailBlocked
from sluicegate.exchange import Exchange, Reply, Step
from sluicegate.gateway import Gateway
from sluicegate.guardrails.answers import answer_texts, shape_of
from sluicegate.guardrails.bodies import Shape, rewrite
from sluicegate.guardrails.detector import Span
from sluicegate.guardrails.guard import Guard, Side
from sluicegate.guardrails.placeholders import RestoreStream, Vault, redact
from sluicegate.guardrails.policy import GuardrailsPolicy
from sluicegate.guardrails.scanner import Scanner
from sluicegate.guardrails.sse import STREAMED_SHAPES, SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.jsondepth import encode
from sluicegate.pipeline import Handler

GUARDRAILS_HEADER = "x-sluicegate-guardrails"
METADATA_KEY = "guardrails"
_SINGLE_STEP_KINDS = ("provider", "host", "host-compat")  # the client's body is the step's


@dataclass(frozen=True, slots=True)
class Compiled:
    """A policy's scanners, built once per distinct policy. `stream` redacts what a streamed answer
    may not show: text already sent cannot be blocked, so response `block` rules redact there."""

    guard: Guard
    stream: Scanner
    stream_flags: Scanner
    reads_answers: bool


def compile_policy(policy: GuardrailsPolicy) -> Compiled:
    guard = Guard(policy)
    block, redact, flag = (guard.scanner("response", action) for action in ("block", "redact", "flag"))
    reads = bool(block or redact or flag) or policy.restore
    return Compiled(guard, Scanner([*block.detectors, *redact.detectors]), flag, reads)


def _blocked(span: Span, side: Side) -> GuardrailBlocked:
    what = "request" if side == "request" else "answer"
    return GuardrailBlocked(
        f"the gateway's guardrails blocked this {what}: it contains {span.entity} (detector "
        f"{span.detector}); remove it, or ask the gateway's owner about its guardrails setting",
        detector=span.detector,
        entity=span.entity,
        direction=side,
    )


class Findings:
    """What one request's guardrails found, each noted once: `request:redact:email`."""

    def __init__(self, exchange: Exchange) -> None:
        self._into = exchange.guardrails.findings

    def note(self, side: Side, action: str, spans: list[Span]) -> None:
        for span in spans:
            self.add(f"{side}:{action}:{span.entity}")

    def add(self, finding: str) -> None:
        if finding not in self._into:
            self._into.append(finding)


class Guardrails:
    def __init__(self) -> None:
        self._compiled = functools.lru_cache(maxsize=256)(compile_policy)

    def gateway_saved(self, gateway: Gateway) -> None:
        """Told of a gateway created or changed: compile its policy now (RE2 programs, a few ms),
        not in its first request. (Another replica compiles at its first request.)"""
        if gateway.settings.guardrails is not None:
            self._compiled(gateway.settings.guardrails)

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        assert exchange.gateway is not None, "Resolve runs before Guardrails"
        policy = exchange.gateway.settings.guardrails
        if policy is None:
            return await call_next(exchange)
        compiled = self._compiled(policy)
        vault, findings = Vault(), Findings(exchange)
        try:
            check_request(exchange, compiled.guard, vault, findings)
            reply = await call_next(exchange)
            if compiled.reads_answers and 200 <= reply.status < 300:
                await self._check_answer(exchange, reply, compiled, vault, findings)
        finally:
            _record(exchange)
        if exchange.guardrails.findings:
            reply.headers[GUARDRAILS_HEADER] = ", ".join(exchange.guardrails.findings)
        return reply

    async def _check_answer(
        self, exchange: Exchange, reply: Reply, compiled: Compiled, vault: Vault, findings: Findings
    ) -> None:
        step = exchange.step
        if step is None:
            return
        translated = exchange.request.kind == "compat" and (
            exchange.request.ingress is None or exchange.plan.hub is not None
        )
        shape = "openai_chat" if translated else shape_of(step.route.path, step.facts.payload)
        if shape is None:
            return
        content_type = reply.headers.get("Content-Type", "")
        restore = compiled.guard.policy.restore and len(vault) > 0
        if restore:  # the client sees the originals again; the log record keeps them masked
            exchange.guardrails.restored = vault.restorable()
        if "json" in content_type:
            if reply.stream is not None:  # a large answer relayed as it came: read it to scan it
                reply.body, reply.stream = b"".join([chunk async for chunk in reply.stream]), None
            reply.body = check_answer(reply.body, shape, compiled.guard, vault, findings, restore=restore)
            reply.headers.popall("Content-Length", None)
        elif reply.stream is not None and "event-stream" in content_type and shape in STREAMED_SHAPES:

            def pipe() -> TextPipe:
                redactor = StreamRedactor(compiled.stream, vault)
                flagger = StreamRedactor(compiled.stream_flags, Vault()) if compiled.stream_flags else None
                return TextPipe(redactor, RestoreStream(vault) if restore else None, flagger)

            reply.stream = _filtered(reply.stream, SseTextFilter(shape, pipe), exchange, findings)


def check_request(exchange: Exchange, guard: Guard, vault: Vault, findings: Findings) -> None:
    """Each step's body inspected and rewritten in place; `GuardrailBlocked` when a rule blocks it."""

    def change(text: str, role: str) -> str:
        inspection = guard.inspect(text, "request", vault)
        if inspection.blocked is not None:
            findings.note("request", "block", [inspection.blocked])
            raise _blocked(inspection.blocked, "request")
        findings.note("request", "redact", inspection.redacted)
        findings.note("request", "flag", inspection.flagged)
        injection = guard.injection(text) if role == "user" else None
        if injection is not None:
            assert guard.policy.prompt_injection is not None
            finding = f"prompt_injection.{injection.rule}"
            findings.add(f"request:{guard.policy.prompt_injection.action}:{finding}")
            if guard.policy.prompt_injection.action == "block":
                raise GuardrailBlocked(
                    "the gateway's guardrails blocked this request: a user message reads as a "
                    f"prompt injection ({injection.rule})",
                    detector=finding,
                    entity="prompt_injection",
                    direction="request",
                )
        return inspection.text

    try:
        changed = [_rewrite_step(step, change) for step in exchange.plan.steps]
    except GuardrailBlocked:
        _mask_client_body(exchange, guard, vault)
        raise
    if not any(changed):
        return
    if exchange.request.kind in _SINGLE_STEP_KINDS:
        exchange.plan.body = exchange.plan.steps[0].body
    elif exchange.request.kind == "compat":
        exchange.plan.body = _rewritten(exchange.plan.body, _client_shape(exchange), change)
    elif exchange.request.kind == "universal":
        exchange.plan.body = _universal_body(exchange, changed)


Change = Callable[[str, str], str]


def _rewrite_step(step: Step, change: Change) -> bool:
    shape = shape_of(step.route.path, step.facts.payload)
    if shape is None or not isinstance(step.facts.payload, dict):
        return False
    payload = orjson.loads(step.body)  # a copy of its own: the walkers rewrite it in place
    if not rewrite(shape, payload, change):
        return False
    step.body = encode(payload)
    step.facts = step.provider.read_request(step.route, step.body)
    return True


def _rewritten(body: bytes, shape: Shape, change: Change) -> bytes:
    """The client's own body with the same changes (same vault: same placeholders), for the log."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return encode(payload) if rewrite(shape, payload, change) else body


def _mask_client_body(exchange: Exchange, guard: Guard, vault: Vault) -> None:
    """A blocked request is still logged: with what blocked it as placeholders in its body, or
    (a universal array, whose steps may differ in shape) without its bodies."""
    step = exchange.plan.steps[0] if exchange.plan.steps else None
    if exchange.request.kind == "compat":
        shape: Shape | None = _client_shape(exchange)
    elif exchange.request.kind in _SINGLE_STEP_KINDS and step is not None:
        shape = shape_of(step.route.path, step.facts.payload)
    else:
        shape = None
    if shape is None:
        exchange.options.collect_payload = False
        return
    blocking = guard.scanner("request", "block")
    exchange.plan.body = _rewritten(
        exchange.plan.body, shape, lambda text, _role: redact(text, blocking, vault)[0]
    )


def _client_shape(exchange: Exchange) -> Shape:
    """How the client's own body reads on the compat endpoint: OpenAI chat, or its API's (ingress/)."""
    return exchange.request.ingress.shape if exchange.request.ingress is not None else "openai_chat"


def _universal_body(exchange: Exchange, changed: list[bool]) -> bytes:
    """The universal array with each rewritten step's `query` replaced, so the log holds no more
    than the upstreams saw."""
    raw: Any = orjson.loads(exchange.plan.body)
    items = raw if isinstance(raw, list) else [raw]
    for item, step, rewritten in zip(items, exchange.plan.steps, changed, strict=False):
        if rewritten and isinstance(item, dict):
            item["query"] = orjson.loads(step.body)
    return encode(raw)


def check_answer(
    body: bytes, shape: Shape, guard: Guard, vault: Vault, findings: Findings, *, restore: bool
) -> bytes:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    texts = answer_texts(shape, payload)
    for text in texts:
        inspection = guard.inspect(text.value, "response", vault)
        if inspection.blocked is not None:
            findings.note("response", "block", [inspection.blocked])
            raise _blocked(inspection.blocked, "response")
        findings.note("response", "redact", inspection.redacted)
        findings.note("response", "flag", inspection.flagged)
        text.set(vault.restore(inspection.text) if restore else inspection.text)
    return encode(payload) if texts else body


async def _filtered(
    stream: AsyncGenerator[bytes, None], sse: SseTextFilter, exchange: Exchange, findings: Findings
) -> AsyncGenerator[bytes, None]:
    """`stream` with its text deltas filtered; the findings join the record when it ends."""
    try:
        async for chunk in stream:
            out = sse.feed(chunk)
            if out:
                yield out
        out = sse.close()
        if out:
            yield out
    finally:
        await stream.aclose()
        findings.note("response", "redact", sse.spans)
        findings.note("response", "flag", sse.flagged)
        _record(exchange)


def _record(exchange: Exchange) -> None:
    if exchange.guardrails.findings:
        exchange.options.metadata[METADATA_KEY] = ", ".join(exchange.guardrails.findings)
