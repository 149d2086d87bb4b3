"""Guardrails: the stage right after Plan, so the cache key and everything upstream see the
request as the gateway's `guardrails` setting leaves it.

Request direction: each step's body is read in the text format its provider names
(`text_format`); a blocking match is a 400 `guardrail_blocked` that names the detector (never the
text) and nothing goes upstream, a redacting one becomes a typed placeholder, a flag is only noted.
A body that repeats a key in one object is refused before it is read (guardrail_bodies.py).
Response direction: a JSON answer is redacted (and, with `restore`, the request's placeholders are
mapped back), a streamed one is filtered delta by delta (SSE events, the elements of Gemini's
JSON array stream, or the lines of Cohere's v1 stream: guardrail_streams.py, which tells them apart
by their first bytes); the answer's text is read as JSON where the request asked for a JSON answer
(structured outputs), so that it stays valid JSON. An answer in none of those forms is withheld
(502) where a rule would block or redact it, noted where one would flag it. Cache hits come from
the stages below, so they pass here too. Findings go to `x-sluicegate-guardrails`, the log
record's metadata and the metrics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from sluicegate.errors import GatewayError, GuardrailBlocked, UnreadableAnswer
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.exchange_records import GuardrailReport
from sluicegate.gateway import Gateway
from sluicegate.guardrails.array_stream import JsonArrayTextFilter
from sluicegate.guardrails.bodies import rewrite_answer
from sluicegate.guardrails.guard import Guard, Inspection
from sluicegate.guardrails.placeholders import RestoreStream, Vault
from sluicegate.guardrails.policy import GuardrailsPolicy
from sluicegate.guardrails.runs import JOINS
from sluicegate.guardrails.runs import place as put_back
from sluicegate.guardrails.scanner import Scanner
from sluicegate.guardrails.sse import SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.jsondepth import encode
from sluicegate.pipeline import Handler
from sluicegate.pipeline.guardrail_bodies import (
    SINGLE_STEP_KINDS,
    client_format,
    masked_client_body,
    repeated_keys,
    rewritten,
    rewritten_step,
    universal_body,
)
from sluicegate.pipeline.guardrail_findings import (
    CLOUDFLARE_CODES,
    Findings,
    blocked_by,
    cloudflare_note,
    injection_found,
)
from sluicegate.pipeline.guardrail_injection import check_injection
from sluicegate.pipeline.guardrail_streams import AnswerFilter, AnswerReaders, Unreadable, guard_answer
from sluicegate.providers.openai_texts import CHAT_TEXTS
from sluicegate.providers.texts import TextFormat

GUARDRAILS_HEADER = "x-sluicegate-guardrails"
METADATA_KEY = "guardrails"
UNREADABLE = "unreadable_answer"  # what is found in an answer the guardrails cannot read


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


def _unreadable(reply: Reply) -> UnreadableAnswer:
    label = reply.headers.get("Content-Type") or "none"
    return UnreadableAnswer(
        f"the gateway's guardrails could not read the upstream's answer (Content-Type {label}; it is "
        "neither JSON nor server-sent events, or not the JSON object its API answers with), so it was "
        "withheld: the gateway's guardrails check answers" + cloudflare_note("response"),
        detector=UNREADABLE,
        entity=UNREADABLE,
        direction="response",
        cloudflare_code=CLOUDFLARE_CODES["response"],
    )


def _compile_for(account: str, policy: GuardrailsPolicy) -> Compiled:
    return compile_policy(policy)


class Guardrails:
    """Each account's policies compiled apart, even when equal: a scanner keeps what it found in
    the texts it read lately (guardrails/recent_finds.py), and how fast a text is read again must
    tell no account what another sent."""

    def __init__(self) -> None:
        self._compiled = functools.lru_cache(maxsize=256)(_compile_for)

    def compiled(self, account: str, policy: GuardrailsPolicy) -> Compiled:
        """`policy`'s scanners, compiled once per distinct policy of an account."""
        return self._compiled(account, policy)

    def gateway_saved(self, gateway: Gateway) -> None:
        """Told of a gateway created or changed: compile its policy now (RE2 programs, a few ms),
        not in its first request. (Another replica compiles at its first request.)"""
        if gateway.settings.guardrails is not None:
            self._compiled(gateway.account, gateway.settings.guardrails)

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        assert exchange.gateway is not None, "Resolve runs before Guardrails"
        policy = exchange.gateway.settings.guardrails
        if policy is None:
            return await call_next(exchange)
        compiled = self._compiled(exchange.gateway.account, policy)
        if (repeated := await repeated_keys(exchange.request, exchange.plan)) is not None:
            exchange.options.collect_payload = False  # not read, so not masked: not logged
            raise repeated
        vault = Vault()
        guarded = guard_request(compiled.guard, exchange.request, exchange.plan, vault)
        exchange.guardrails, exchange.plan.body, exchange.plan.steps = (
            guarded.report,
            guarded.body,
            guarded.steps,
        )
        if guarded.unmaskable:
            exchange.options.collect_payload = False
        findings = Findings(guarded.report.findings)
        try:
            if guarded.blocked is not None:
                raise guarded.blocked
            reply = await call_next(exchange)
            if compiled.reads_answers and 200 <= reply.status < 300:
                await self._check_answer(exchange, reply, compiled, vault, findings)
        except GatewayError as refused:  # a block (or an answer withheld) lists what was found too
            if exchange.guardrails.findings:
                found = ", ".join(exchange.guardrails.findings)
                refused.headers = {**refused.headers, GUARDRAILS_HEADER: found}
            raise
        finally:
            record_findings(exchange)
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
        # A translated answer is OpenAI chat by the time it gets here (pipeline/compat.py's hub),
        # and answers the chat request: the client's, or the one its request was translated to.
        if translated:
            text_format: TextFormat | None = CHAT_TEXTS.answering(_chat_request(exchange.plan))
        elif step.hub is not None and exchange.request.ingress is not None:
            # A route's target that renders its answer in the client's API (pipeline/compat_route.py).
            text_format = exchange.request.ingress.text_format.answering(step.hub.asked)
        else:
            text_format = step.provider.text_format(step.route, step.facts.payload)
            text_format = text_format.answering(step.facts.payload) if text_format is not None else None
        if text_format is None:
            return
        restore = compiled.guard.policy.restore and len(vault) > 0
        if restore:  # the client sees the originals again; the log record keeps them masked
            exchange.guardrails.restored = vault.restorable()
        pipe = answer_pipes(compiled, vault, restore=restore)

        def ended(text_filter: AnswerFilter) -> None:  # a streamed answer's findings join the record
            findings.note("response", "redact", text_filter.spans)
            findings.note("response", "flag", text_filter.flagged)
            record_findings(exchange)

        guard = compiled.guard
        readers = AnswerReaders(
            sse=functools.partial(SseTextFilter, text_format, pipe),
            array=functools.partial(JsonArrayTextFilter, text_format, pipe),
            lines=functools.partial(JsonArrayTextFilter, text_format, pipe, lines=True),
            check=lambda body: check_answer(body, text_format, guard, vault, findings, restore=restore),
            ended=ended,
        )
        try:
            await guard_answer(reply, step.facts.stream, readers)
        except Unreadable:
            # An answer whose text cannot be read may hold anything: refused where a rule would
            # block or redact it, noted where one would only flag it (docs/guardrails.md).
            if compiled.stream:
                findings.add(f"response:block:{UNREADABLE}")
                if reply.stream is not None:
                    await reply.stream.aclose()
                raise _unreadable(reply) from None
            if compiled.stream_flags:
                findings.add(f"response:flag:{UNREADABLE}")


def _chat_request(plan: RequestPlan) -> Any:
    """The chat request a compat answer answers, parsed as far as its text format needs it (None if
    it is not JSON)."""
    body = plan.hub.body if plan.hub is not None else plan.body
    if b'"response_format"' not in body:
        return {}  # all the chat format asks of it: most requests are not parsed a second time
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def answer_pipes(compiled: Compiled, vault: Vault, *, restore: bool) -> Callable[[], TextPipe]:
    """What makes the pipe each text of a streamed answer goes through: redacted (a `block` rule
    redacts too), flagged, and with `restore`, the request's placeholders put back."""

    def pipe() -> TextPipe:
        redactor = StreamRedactor(compiled.stream, vault)
        flagger = StreamRedactor(compiled.stream_flags, Vault()) if compiled.stream_flags else None
        return TextPipe(redactor, RestoreStream(vault) if restore else None, flagger)

    return pipe


class GuardedRequest(NamedTuple):
    """The request side's verdict: what was found, the client's body as the log keeps it and the
    steps as they go upstream (rewritten where a rule redacts), and the block, if a rule blocked."""

    report: GuardrailReport
    body: bytes
    steps: list[Step]
    blocked: GuardrailBlocked | None = None
    unmaskable: bool = False  # blocked, and the client's body cannot be masked: it is not logged


def guard_text(
    guard: Guard, text: str, role: str, vault: Vault, findings: Findings, *, injection: bool = True
) -> str:
    """One text of a request (`role`: whose it is; only a user's is checked for prompt injection,
    and with `injection`: a request's turns are read by `check_injection`, a realtime event here)
    as it may go upstream: redacted where a rule redacts; raises `GuardrailBlocked` where a rule
    blocks. Findings are noted as they are made."""
    inspection = guard.inspect(text, "request", vault)
    return _judged(guard, inspection, text, role, findings, injection=injection).text


def guard_run(guard: Guard, texts: list[str], role: str, vault: Vault, findings: Findings) -> list[str]:
    """The texts of adjacent text parts of one message, read as `guard_text` reads one text but
    together, as the model reads them (each of `JOINS`); a value found across parts is put back
    onto them (guardrails/runs.py). Prompt injection is not read here: `check_injection` reads a
    request's latest turns, their parts joined alike (guardrail_injection.py)."""
    for join in JOINS:
        joined = join.join(texts)
        inspection = guard.inspect(joined, "request", vault)
        inspection = _judged(guard, inspection, joined, role, findings, injection=False)
        if inspection.redacted:
            texts = put_back(texts, join, inspection.redacted, vault)
    return texts


def _judged(
    guard: Guard, inspection: Inspection, text: str, role: str, findings: Findings, *, injection: bool
) -> Inspection:
    """`inspection` of a request's `text`, its findings noted; raises where a rule blocks."""
    if inspection.blocked is not None:
        findings.note("request", "block", inspection.blocks)
        raise blocked_by(inspection.blocked, "request")
    findings.note("request", "redact", inspection.redacted)
    findings.note("request", "flag", inspection.flagged)
    if injection and role == "user" and (found := guard.injection(text)) is not None:
        injection_found(guard, found, findings)
    return inspection


def guard_request(guard: Guard, request: IncomingRequest, plan: RequestPlan, vault: Vault) -> GuardedRequest:
    """Each step's body inspected and, where a rule redacts, rewritten (a new step; `plan` is left
    as it is); the client's body rewritten alike, or masked when a rule blocks."""
    report = GuardrailReport()
    findings = Findings(report.findings)

    def change(text: str, role: str) -> str:
        return guard_text(guard, text, role, vault, findings, injection=False)

    def joined(texts: list[str], role: str) -> list[str]:
        return guard_run(guard, texts, role, vault, findings)

    steps, changed = plan.steps, []
    for place, step in enumerate(plan.steps):
        try:
            check_injection(guard, request, plan, place, findings)
            new = rewritten_step(step, change, joined)
        except GuardrailBlocked as blocked:
            # Every value a rule blocks is noted, in whichever text of the body it is.
            found = functools.partial(findings.note, "request", "block")
            masked = masked_client_body(request, plan.body, steps, guard, vault, found)
            body = plan.body if masked is None else masked
            return GuardedRequest(report, body, steps, blocked, unmaskable=masked is None)
        changed.append(new is not None)
        if new is not None:
            steps = list(steps) if steps is plan.steps else steps  # the plan's own list is left alone
            steps[place] = new
    if steps is plan.steps:
        return GuardedRequest(report, plan.body, steps)
    if request.kind in SINGLE_STEP_KINDS:
        body = steps[0].body
    elif request.kind == "compat":
        body = rewritten(plan.body, client_format(request), change, joined)
    elif request.kind == "universal":
        body = universal_body(plan.body, steps, changed)
    else:
        body = plan.body
    return GuardedRequest(report, body, steps)


def check_answer(
    body: bytes, text_format: TextFormat, guard: Guard, vault: Vault, findings: Findings, *, restore: bool
) -> bytes:
    """A whole JSON answer read (raising a block), as it goes to the client; `Unreadable` when it
    is not a JSON object."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Unreadable from None
    if not isinstance(payload, dict):
        raise Unreadable

    def change(text: str, _role: str) -> str:
        inspection = guard.inspect(text, "response", vault)
        if inspection.blocked is not None:
            findings.note("response", "block", inspection.blocks)
            raise blocked_by(inspection.blocked, "response")
        findings.note("response", "redact", inspection.redacted)
        findings.note("response", "flag", inspection.flagged)
        return vault.restore(inspection.text) if restore else inspection.text

    changed = rewrite_answer(text_format, payload, change, vault.restore if restore else None)
    return encode(payload) if changed else body


def record_findings(exchange: Exchange) -> None:
    """The findings into the log record's metadata (`guardrails`)."""
    if exchange.guardrails.findings:
        exchange.options.metadata[METADATA_KEY] = ", ".join(exchange.guardrails.findings)
