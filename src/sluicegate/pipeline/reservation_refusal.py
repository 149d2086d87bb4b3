"""The refusal of a request whose own reservation does not fit a token or cost rule that has room.

A `tokens` or `cost` rule reserves the answer's whole cap before the request is sent (ratelimit.py),
so that the limit cannot be overshot. An SDK's default cap can be far above what the request will
use (the AI SDK sends Anthropic `max_tokens: 128000`), and its refusal then comes with most of the
window left. That refusal says so (`ReservationExceedsBudget`): what the request may use, what is
left, the field to lower and to what, and whether waiting helps. It is told from the window being
spent by the rule's `reserve`: the request would fit with its cap lowered to what the operator
reserves for a request that sets none. Otherwise the plain `RateLimited` refusal stands.

Worked out only for a refusal: nothing here runs on an admitted request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import orjson

from sluicegate.errors import ReservationExceedsBudget
from sluicegate.exchange import RequestPlan, Step
from sluicegate.gateway import RateLimitRule, plain
from sluicegate.outcome.estimate import StepEstimate
from sluicegate.storage.limiter import Claim, Usage, Verdict, fits

# Where the APIs put the cap on the answer (output_caps.py and the adapters read the same keys):
# at the top (OpenAI's chat, completions and Responses, Anthropic, Cohere, Workers AI), or in an
# object (Gemini's generation config, Hugging Face's parameters, a Replicate prediction's input).
_TOP_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens", "max_tokens_to_sample")
_NESTED_CAPS = (
    ("generationConfig", ("maxOutputTokens",)),
    ("generation_config", ("max_output_tokens",)),
    ("parameters", ("max_new_tokens",)),
    ("input", ("max_tokens", "max_new_tokens", "max_completion_tokens")),
)
_SDK_HINT = "or your SDK's setting for it, such as the AI SDK's maxOutputTokens"


class CapField(NamedTuple):
    """The request's cap on its answer as its client wrote it: the field and its value."""

    name: str
    value: int


def reservation_refusal(
    rules: Sequence[RateLimitRule],
    claims: Sequence[Claim],
    verdict: Verdict,
    estimates: Sequence[StepEstimate],
    plan: RequestPlan,
    token_rule: bool,
    headers: dict[str, str],
) -> ReservationExceedsBudget | None:
    """The precise refusal when every rule that refused is a token or cost rule that would admit the
    request with its cap lowered to the rule's `reserve`; None when the window is spent (or the
    request sets no cap, or another rule refused). `token_rule`: the refusing rule (`refused_by`) is
    the token's own; `headers`: its bucket's `x-ratelimit-*` headers, to which `Retry-After` is added."""
    caps = [estimate.output_cap for estimate in estimates]
    if not estimates or any(not cap for cap in caps) or verdict.refused_by is None:
        return None  # no cap set (the rule's `reserve` stood in), or no answer to cap
    most = math.inf  # the largest cap (all answers together) every refusing rule admits now
    for usage, claim, rule in zip(verdict.usages, claims, rules, strict=True):
        if fits(usage.bucket, usage.used, claim.amount):
            continue
        if rule.unit == "requests":
            return None
        fitting = min(_most_output(usage, estimate, rule.unit) for estimate in estimates)
        if fitting < max(rule.reserve, 1):
            return None  # not even a request of an ordinary cap fits: the window is spent
        most = min(most, fitting)
    if math.isinf(most):  # no claim over (a figure read back rounded): nothing to say precisely
        return None
    index = verdict.usages.index(verdict.refused_by)
    rule, usage = rules[index], verdict.refused_by
    # The costliest step: the one whose estimate the rule reserved.
    step = max(range(len(estimates)), key=lambda i: _amount(estimates[i], rule.unit)(caps[i] or 0))
    estimate, cap = estimates[step], caps[step] or 0
    field = cap_field(plan.body, plan.steps[step]) or CapField("its cap on the answer", cap)
    answers = cap // field.value if field.value > 0 and cap % field.value == 0 else 1
    per_answer = int(most) // answers
    if per_answer < 1:
        return None
    alone = _amount(estimate, rule.unit)(cap) > rule.limit  # reserved as the whole limit
    wait = _wait(usage, alone)
    whose = "this token's limit" if token_rule else "the rate limit"
    message = (
        f"this request {_asks(estimate, cap, field, answers, rule.unit, plan.steps[step])}, more than the "
        f"{_quantity(usage.remaining, rule.unit)} left of {whose} {rule.label}. The gateway reserves "
        f"what a request may use before sending it, so that the limit cannot be overshot: lower "
        f"{field.name} ({_SDK_HINT}) to at most {per_answer:,} to be admitted now. "
        f"{_waiting(usage, rule, alone, wait)}"
    )
    details: dict[str, Any] = {"rule": rule.model_dump()}
    if field.name in _TOP_CAPS:
        details["param"] = field.name  # OpenAI's errors name the field to blame
    return ReservationExceedsBudget(message, headers={**headers, "Retry-After": str(wait)}, **details)


def cap_field(body: bytes, step: Step) -> CapField | None:
    """The cap on the answer as the client wrote it (its own body: a translated step's differs), else
    as the step's body holds it (the universal endpoint's body is a list of steps)."""
    try:
        client = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        client = None
    return _find_cap(client) or _find_cap(step.facts.payload)


def _find_cap(body: Any) -> CapField | None:
    if not isinstance(body, dict):
        return None
    for key in _TOP_CAPS:
        if type(body.get(key)) is int:
            return CapField(key, body[key])
    for outer, keys in _NESTED_CAPS:
        inner = body.get(outer)
        if isinstance(inner, dict):
            for key in keys:
                if type(inner.get(key)) is int:
                    return CapField(f"{outer}.{key}", inner[key])
    return None


def _amount(estimate: StepEstimate, unit: str) -> Callable[[int], float]:
    """What the request reserves under a rule of `unit` were its answers capped at `output` tokens."""
    if unit == "tokens":
        return lambda output: estimate.prompt_tokens + output
    return lambda output: estimate._replace(output_cap=output).cost(0)


def _most_output(usage: Usage, estimate: StepEstimate, unit: str) -> int:
    """The largest cap (0 to the request's own) whose reservation fits what `usage` leaves; -1 when
    not even the prompt fits. A bisection: a price need not be linear in the output (tiers)."""
    amount = _amount(estimate, unit)
    low, high = -1, estimate.output_cap or 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(usage.bucket, usage.used, amount(middle)):
            low = middle
        else:
            high = middle - 1
    return low


def _asks(estimate: StepEstimate, cap: int, field: CapField, answers: int, unit: str, step: Step) -> str:
    """What the request may use, as the rule counts it."""
    output = f"{cap:,} output tokens ({field.name}"
    output += f" {field.value:,} for each of {answers} answers)" if answers > 1 else ")"
    if unit == "tokens":
        return f"may use up to {output} and about {estimate.prompt_tokens:,} input tokens"
    total = _amount(estimate, unit)
    per_million = (total(cap) - total(0)) / cap * 1_000_000
    model = step.facts.model or "its model"
    return (
        f"may cost up to {_dollars(total(cap))}: {output} at {_dollars(per_million)} per million output "
        f"tokens of {model}, and about {estimate.prompt_tokens:,} input tokens"
    )


def _wait(usage: Usage, alone: bool) -> int:
    """Seconds until waiting can admit the request as sent: a fixed window's reset (a fresh window
    fits it, the whole limit if it asks for more); in a sliding window, until the oldest use leaves,
    or, for a request reserving the whole limit, until all use counted now has left (a period)."""
    if usage.bucket.sliding and alone:
        return usage.bucket.period
    return max(math.ceil(usage.reset_after), 1)


def _waiting(usage: Usage, rule: RateLimitRule, alone: bool, wait: int) -> str:
    """Whether, and how far, waiting helps."""
    sliding = usage.bucket.sliding
    if not alone:
        if sliding:
            return f"Or wait for earlier use to leave the sliding window (the oldest leaves in {wait:,} s)."
        return f"Or wait for the window to reset (in {wait:,} s)."
    whole = _quantity(rule.limit, rule.unit)
    if sliding:
        return (
            f"As sent, it asks for more than the whole limit ({whole}), so it is admitted only alone, once "
            f"no other use is counted in the window: at most one such request per {rule.period:,} s."
        )
    return (
        f"As sent, it asks for more than the whole limit ({whole}), so it is admitted only alone in a "
        f"window: waiting for the window to reset (in {wait:,} s) admits one such request per window."
    )


def _quantity(amount: float, unit: str) -> str:
    return _dollars(amount) if unit == "cost" else f"{math.floor(amount):,} tokens"


def _dollars(amount: float) -> str:
    return "$" + plain(float(f"{amount:.6g}"))
