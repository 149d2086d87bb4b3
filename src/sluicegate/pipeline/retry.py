"""Retries, fallbacks and deadlines: the last link of the pipeline.

Steps are tried in order; each is retried as its `RetryPolicy` says on connection errors,
timeouts, 429 and 5xx, then the next step is tried. Any other answer (2xx, 3xx, a 4xx that is
the caller's mistake) is returned at once, except on the universal endpoint, where any error
status falls back (Cloudflare falls back "if a model request returns an error": each step has
its own provider, key and body, so a 401 or a 404 from one says nothing of the next); a step is
still retried on 429 and 5xx only. A 429 or 5xx its provider reads as final
(`Provider.refusal_is_final`: OpenAI's insufficient_quota, an account out of credit) is not
retried: the next step is tried at once. A stream is only retried before its first byte
(`Forwarder.send` returns once that byte is in), so a client never sees two answers; a 200 stream
whose first event is the provider's error counts as the status that error stands for
(`Reply.counted_status`: Anthropic's overloaded_error as a 529).

A step that goes with the gateway's stored keys (`pipeline/keys.py`) moves on to another key of
the pool, at once and within the same try, when the upstream refuses one (a 429; a 401 or 403 as
pipeline/key_verdicts.py judges it): a key refused is not a retry of the same request, so it uses
up no attempt. A key whose 429 is final rests long (routing/keypool.py `OUT_OF_CREDIT`).

The final attempt of a retried step (`max_attempts` > 1) is bounded by the request's deadline only,
not by its per-attempt timeout: Cloudflare, "On the final retry attempt, your gateway will wait until
the request completes, regardless of how long it takes"
(https://developers.cloudflare.com/ai-gateway/configuration/request-handling/#request-retries). A
step with a step after it keeps the timeout on every attempt: there, a timeout is what triggers the
fallback to the next step (the same page), so only the last step's final attempt waits.

A step this process could not even open a socket for (`GatewayOverloaded`: out of file descriptors)
ends the request at once with that 503: the shortage is the gateway's, so the next step would fail
the same way, and neither the target's circuit nor the key is blamed.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from multidict import CIMultiDict

from sluicegate.errors import (
    GatewayError,
    GatewayOverloaded,
    ProviderKeysCooling,
    ProviderKeysDisabled,
    ProviderKeysRefusedModel,
    ProviderKeysSealed,
    ServiceUnavailable,
    UpstreamTimeout,
)
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, RetryPolicy, Step
from sluicegate.exchange_records import Attempt
from sluicegate.pipeline.circuits import TargetCircuits
from sluicegate.pipeline.dynamic import ROUTE_HEADER, route_headers, route_label
from sluicegate.pipeline.forward import Forwarder
from sluicegate.pipeline.key_verdicts import rest_target, serves_inference, verdict
from sluicegate.pipeline.keys import StepKeys, no_usable_key
from sluicegate.records import UNIVERSAL
from sluicegate.routing.circuit import Permit
from sluicegate.types import Backoff

STEP_HEADER = "cf-aig-step"
JITTER = 0.25  # each wait is its nominal value ±25%, so many clients do not retry in lockstep
ProviderKeysUnusable = (
    ProviderKeysCooling, ProviderKeysDisabled, ProviderKeysRefusedModel, ProviderKeysSealed
)  # fmt: skip


class DeadlineExceeded(UpstreamTimeout):
    code = "deadline_exceeded"


def is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


def backoff_delay(policy: RetryPolicy, retry: int, jitter: float) -> float:
    """Seconds to wait before retry number `retry` (1-based); `jitter` in [-1, 1] scales ±JITTER."""
    factor = {Backoff.CONSTANT: 1, Backoff.LINEAR: retry, Backoff.EXPONENTIAL: 1 << (retry - 1)}[
        policy.backoff
    ]
    return policy.delay_ms / 1000 * factor * (1 + JITTER * jitter)


def retry_after(headers: CIMultiDict[str]) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI, Anthropic) or `Retry-After` (seconds or an HTTP date)."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class Tries:
    """What trying the steps did: the step that answered (or was tried last) and every try, for
    the log. Filled as the tries go, so a request cancelled mid-way (its client hung up) is logged
    with the tries it made."""

    step_index: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    tried: bool = False  # a step was tried (not every one skipped: its circuit open)


class Attempts:
    """Tries the exchange's steps in order within `deadline` seconds (until an answer starts)."""

    def __init__(
        self,
        forwarder: Forwarder,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        circuits: TargetCircuits | None = None,
        keys: StepKeys | None = None,
    ) -> None:
        self._forwarder = forwarder
        self._deadline = deadline
        self._clock = clock
        self._sleep = sleep
        self._circuits = circuits
        self._keys = keys

    async def __call__(self, exchange: Exchange) -> Reply:
        tries = Tries(attempts=list(exchange.plan.left_out))  # a route's targets left out, first
        try:
            answer = await self.try_steps(exchange.request, exchange.plan, tries)
        finally:
            exchange.plan.step_index, exchange.response.attempts = tries.step_index, tries.attempts
        if isinstance(answer, GatewayError):
            answer.headers = {**answer.headers, **_said_of_steps(exchange, tries.tried)}
            raise answer
        exchange.response.upstream_status = answer.status  # only an upstream's answer is a Reply here
        return _answered(answer, exchange)

    async def try_steps(
        self, request: IncomingRequest, plan: RequestPlan, tries: Tries
    ) -> Reply | GatewayError:
        """The answer to return (a reply, or the error to raise) after trying `plan`'s steps; which
        step and what tries are noted on `tries` as they go."""
        deadline = self._clock() + self._deadline
        failure: Reply | GatewayError | None = None
        circuits = self._circuits if plan.route_plan is not None else None
        any_error_falls_back = request.kind == UNIVERSAL
        skipped: list[Permit] = []
        for index, step in enumerate(plan.steps):
            if tries.tried and self._clock() >= deadline:
                # Out of time before this step: the record names the step last tried, not this one.
                if failure is not None:
                    await _discard(failure)
                return self._deadline_exceeded(tries)
            permit = await circuits.allow(request, plan, index) if circuits is not None else None
            if permit is not None and not permit.allowed:
                skipped.append(permit)
                tries.attempts.append(
                    Attempt(index, step.provider.name, 0, 0.0, "skipped: its circuit is open")
                )
                continue
            tries.step_index, tries.tried = index, True
            policy = step.retry
            last_step = index == len(plan.steps) - 1
            for attempt in range(1, policy.max_attempts + 1):
                remaining = deadline - self._clock()
                if failure is not None:
                    await _discard(failure)
                if remaining <= 0:
                    return self._deadline_exceeded(tries)
                per_attempt = _attempt_timeout(policy, attempt, last_step)
                budget = remaining if per_attempt is None else min(per_attempt, remaining)
                failure = await self._try(request.method, step, budget, per_attempt is None, tries)
                if isinstance(failure, GatewayOverloaded):
                    return failure  # the gateway's own shortage: no retry, step or circuit mends it
                if (
                    circuits is not None
                    and permit is not None
                    and not isinstance(failure, ProviderKeysUnusable)
                ):
                    # (A step without a usable key never reached its target: nothing to say of it.)
                    status = failure.counted_status if isinstance(failure, Reply) else None
                    await circuits.record(request, plan, index, permit, status)
                if isinstance(failure, Reply) and not is_retryable(failure.counted_status):
                    if failure.counted_status < 400 or not any_error_falls_back:
                        return failure
                    break  # a universal step's own error: not retried, the next step is tried
                if attempt == policy.max_attempts or isinstance(failure, ProviderKeysUnusable):
                    break  # no stored key of this provider is usable now: fall back instead
                if isinstance(failure, Reply) and _final(step, failure):
                    break  # no retry mends it (an account out of credit): fall back at once
                wait = backoff_delay(policy, attempt, random.uniform(-1, 1))
                asked = retry_after(failure.headers) if isinstance(failure, Reply) else None
                if asked is not None:
                    if asked >= deadline - self._clock():
                        break  # the upstream asks for longer than we have: fall back instead
                    wait = max(wait, asked)
                if self._clock() + wait >= deadline:
                    break
                await self._sleep(wait)
        if isinstance(failure, Reply):
            return failure
        if self._clock() >= deadline:
            return self._deadline_exceeded(tries)
        if failure is None:
            return _all_open(plan, skipped)
        return failure

    def _deadline_exceeded(self, tries: Tries) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no answer within the request's deadline of {self._deadline:g} s",
            attempts=[asdict(a) for a in tries.attempts],
        )

    async def _try(
        self, method: str, step: Step, budget: float, deadline_only: bool, tries: Tries
    ) -> Reply | GatewayError:
        """One try of `step` (`tries.step_index`); with stored keys, one more per key the upstream refuses."""
        ring, keys = step.keys, self._keys
        if ring is None or keys is None:
            return await self._send(method, step, budget, deadline_only, tries)
        tried: list[str] = []
        answer: Reply | GatewayError | None = None
        model, target, inference = step.facts.model, rest_target(step), serves_inference(step)
        while True:
            pick = await keys.pick(ring, tried, target)
            if pick.key is None or budget <= 0:
                if answer is not None:
                    return answer  # the last key's refusal, as the upstream gave it
                error = no_usable_key(step.provider.name, ring, pick, model)
                tries.attempts.append(
                    Attempt(tries.step_index, step.provider.name, error.status, 0.0, error.message)
                )
                return error
            if answer is not None:
                await _discard(answer)
            keys.use(step, ring, pick.key.name)
            started = self._clock()
            answer = await self._send(method, step, budget, deadline_only, tries)
            if not isinstance(answer, Reply):
                return answer
            status = answer.counted_status
            spent = status == 429 and _final(step, answer)
            judged = verdict(status, error_body(answer), inference)
            wait = retry_after(answer.headers)
            if not await keys.refused(ring, pick.key.name, status, judged, wait, target, spent):
                return answer
            tried.append(pick.key.name)
            budget -= self._clock() - started

    async def _send(
        self, method: str, step: Step, budget: float, deadline_only: bool, tries: Tries
    ) -> Reply | GatewayError:
        index, started = tries.step_index, time.perf_counter()
        try:
            reply = await self._forwarder.send(step, method, budget, deadline_only)
        except GatewayError as error:
            tries.attempts.append(
                Attempt(
                    index, step.provider.name, error.status, _ms_since(started), error.message, step.key_name
                )
            )
            return error
        status = reply.counted_status
        error_text = None if status < 400 else f"upstream answered {status}"
        if reply.failure is not None:
            error_text = f"upstream answered {reply.status} with an error event first, counted as {status}"
        tries.attempts.append(
            Attempt(index, step.provider.name, status, _ms_since(started), error_text, step.key_name)
        )
        return reply


def _attempt_timeout(policy: RetryPolicy, attempt: int, last_step: bool) -> float | None:
    """Seconds attempt `attempt` of a step may take to start answering (None: the deadline's only).
    The final attempt of the last step, when retried, waits (see the module's docstring)."""
    if not policy.timeout_ms or (last_step and attempt == policy.max_attempts > 1):
        return None
    return policy.timeout_ms / 1000


def _all_open(plan: RequestPlan, skipped: list[Permit]) -> ServiceUnavailable:
    """Every target of the route was skipped: their circuits are open after repeated failures."""
    wait = max(1, math.ceil(min(p.retry_after for p in skipped)))
    route_plan = plan.route_plan
    route = route_plan.route if route_plan is not None else ""
    return ServiceUnavailable(
        f"every target of route {route!r} failed repeatedly and is paused (its circuit is open);"
        f" the first is probed again in {wait} s",
        headers={"Retry-After": str(wait)},
        targets=[t.id for t in route_plan.targets] if route_plan is not None else [],
    )


def _answered(reply: Reply, exchange: Exchange) -> Reply:
    """The answer of the step at `exchange.plan.step_index`, saying which step (and route target) it was."""
    reply.headers[STEP_HEADER] = str(exchange.plan.step_index)
    if reply.reported_usage is not None:  # a translated stream: the meter reads its upstream's usage
        exchange.response.reported_usage.append(reply.reported_usage)
    if reply.unfinished is not None:
        exchange.response.unfinished.append(reply.unfinished)
    if exchange.plan.route_plan is not None:
        reply.headers.update(route_headers(exchange))
    return reply


def _said_of_steps(exchange: Exchange, tried: bool) -> dict[str, str]:
    """What the gateway's own error (a timeout, no connection, no usable key) says of the steps, as
    an upstream's answer does: the step tried last and its route target; when every target was
    skipped (their circuits open), only the route."""
    if not tried:
        route_plan = exchange.plan.route_plan
        return {ROUTE_HEADER: route_label(exchange)} if route_plan is not None else {}
    return {STEP_HEADER: str(exchange.plan.step_index), **route_headers(exchange)}


def error_body(reply: Reply) -> bytes:
    """What an answer said, for its key's verdict: its body, or a stream's opening error event."""
    return reply.body if reply.stream is None else reply.failure_event


def _final(step: Step, reply: Reply) -> bool:
    """Whether a retryable answer says no retry can mend it, as the adapter of the format it is in
    reads its body (`Provider.refusal_is_final`)."""
    reader = step.reader or step.provider
    return reply.stream is None and reader.refusal_is_final(reply.counted_status, reply.body)


async def _discard(failure: Reply | GatewayError | None) -> None:
    """Close a failed answer that will not be returned (a streamed error body holds a connection)."""
    if isinstance(failure, Reply) and failure.stream is not None:
        await failure.stream.aclose()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
