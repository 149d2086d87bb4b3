"""The refusal of a request whose own reservation does not fit a token or cost rule that has room.

A `tokens` or `cost` rule reserves the answer's whole cap before the request is sent (ratelimit.py),
and admits a request only if that fits what is left. An SDK's default cap can be far above what the
request will use (the AI SDK sends Anthropic `max_tokens: 128000`), and its refusal then comes with
most of the window left. That refusal says so (`ReservationExceedsBudget`): what the request may use, what is
left, the field to lower and to what, and whether waiting helps. The field is the one the client
wrote, as the provider of its API finds it (`Provider.cap_field`: the step's provider, or the
compat endpoint's OpenAI chat), with its number of answers; the cap it names leaves room for what a
translation adds (Anthropic's thinking budget), so that sending it is admitted. A request asking
for more than the whole limit is admitted alone in a window and charged what it uses: the refusal
says by how much that may pass the limit. It is told from the window being spent by the rule's
`reserve`: the request would fit with its cap lowered to what the operator reserves for a request
that sets none. Otherwise the plain `RateLimited` refusal stands.

Worked out only for a refusal: nothing here runs on an admitted request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from sluicegate.errors import ReservationExceedsBudget
from sluicegate.exchange import IncomingRequest, RequestPlan, Step
from sluicegate.gateway import RateLimitRule, plain
from sluicegate.outcome.estimate import StepEstimate
from sluicegate.providers.output_caps import CapField
from sluicegate.storage.limiter import Claim, Usage, Verdict, fits

_SDK_HINT = "or your SDK's setting for it, such as the AI SDK's maxOutputTokens"
_UNNAMED = "its cap on the answer"  # a translated request that set none (the translation did)


def reservation_refusal(
    rules: Sequence[RateLimitRule],
    claims: Sequence[Claim],
    verdict: Verdict,
    estimates: Sequence[StepEstimate],
    request: IncomingRequest,
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
    estimate, cap, costliest = estimates[step], caps[step] or 0, plan.steps[step]
    sent = costliest.provider.cap_field(costliest.route, costliest.facts.payload)
    if sent is None:  # the estimate read a cap with the same provider: not seen, but not guessed at
        return None
    caps_of = _Caps(request, plan, costliest, sent, cap)
    per_answer = (int(most) - caps_of.added) // caps_of.answers
    if per_answer < 1:
        return None
    past = _amount(estimate, rule.unit)(cap) - rule.limit  # > 0: reserved as the whole limit
    alone = past > 0
    wait = _wait(usage, alone)
    whose = "this token's limit" if token_rule else "the rate limit"
    message = (
        f"this request {_asks(estimate, cap, caps_of.told(), rule.unit, costliest)}, more than "
        f"the {_quantity(usage.remaining, rule.unit)} left of {whose} {rule.label}. The gateway reserves "
        f"what a request may use before sending it, and this does not fit: lower {caps_of.name} "
        f"({_SDK_HINT}) to at most {per_answer:,}{caps_of.budget_note(per_answer)} to be admitted now. "
        f"{_waiting(usage, rule, past, wait)}"
    )
    details: dict[str, Any] = {"rule": rule.shown()}
    if caps_of.asked is not None:
        details["param"] = caps_of.asked.name  # OpenAI's errors name the field to blame
    return ReservationExceedsBudget(message, headers={**headers, "Retry-After": str(wait)}, **details)


class _Caps:
    """The refused step's cap as its provider reads it (`sent`, the step's body) and as the client
    wrote it (`asked`, in the client's API: its own body, which a compat translation rewrote), each
    found by the provider that speaks that API (`Provider.cap_field`)."""

    def __init__(
        self, request: IncomingRequest, plan: RequestPlan, step: Step, sent: CapField, cap: int
    ) -> None:
        self.cap, self.provider, self.sent = cap, step.provider.name, sent
        self.translated = step.reader is not None or plan.hub is not None
        if not self.translated:
            self.asked: CapField | None = self.sent
        else:  # the client speaks the reader's API (OpenAI's), or another one an ingress took (`hub`)
            reader = step.reader or step.provider
            body = plan.hub.asked if plan.hub is not None else _object(plan.body)
            self.asked = reader.cap_field(request.route, body)
        self.name = self.asked.name if self.asked is not None else _UNNAMED
        self.answers = self.asked.answers if self.asked is not None else 1

    @property
    def added(self) -> int:
        """What the translation adds to the client's cap, all answers together: at a lower cap, up
        to the whole thinking budget it holds (Anthropic's translation adds the budget to
        `max_tokens`, less near the model's most output tokens: compat_thinking.py)."""
        if not self.translated:
            return 0
        if self.asked is None:  # the translation set the cap: lowering it leaves what it adds
            return self.sent.thinking
        return max(self.sent.thinking, self.cap - self.asked.total, 0)

    def told(self) -> str:
        """The cap's parts: the field as the client wrote it, for each of its answers, and as the
        provider gets it when a translation made it more."""
        asked, sent = self.asked, self.sent
        if asked is None:
            told = "none set"
        elif asked.answers > 1:
            told = f"{asked.name} {asked.value:,} for each of {asked.answers} answers"
        else:
            told = asked.name if asked.total == self.cap else f"{asked.name} {asked.value:,}"
        if asked is None or asked.total != self.cap:
            told += f"; {self.provider} gets {sent.name} {sent.value:,}"
        if sent.thinking:
            told += f", which holds a thinking budget of {sent.thinking:,}"
        return told

    def budget_note(self, per_answer: int) -> str:
        """A thinking budget the client set must stay below its cap (Anthropic refuses it otherwise)."""
        if self.translated or per_answer > self.sent.thinking:
            return ""
        return f" and its thinking budget ({self.sent.thinking:,}) below that"


def _object(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
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


def _asks(estimate: StepEstimate, cap: int, told: str, unit: str, step: Step) -> str:
    """What the request may use, as the rule counts it."""
    output = f"{cap:,} output tokens ({told})"
    if unit == "tokens":
        return f"may use up to {output} and about {estimate.prompt_tokens:,} input tokens"
    total = _amount(estimate, unit)
    per_million = (total(cap) - total(0)) / cap * 1_000_000
    model = step.facts.model or "its model"
    searches = (
        f", and {estimate.searches:,} web searches (its search tool's max_uses)" if estimate.searches else ""
    )
    return (
        f"may cost up to {_dollars(total(cap))}: {output} at {_dollars(per_million)} per million output "
        f"tokens of {model}, about {estimate.prompt_tokens:,} input tokens{searches}"
    )


def _wait(usage: Usage, alone: bool) -> int:
    """Seconds until waiting can admit the request as sent: a fixed window's reset (a fresh window
    fits it, the whole limit if it asks for more); in a sliding window, until the oldest use leaves,
    or, for a request reserving the whole limit, until all use counted now has left (a period)."""
    if usage.bucket.sliding and alone:
        return usage.bucket.period
    return max(math.ceil(usage.reset_after), 1)


def _waiting(usage: Usage, rule: RateLimitRule, past: float, wait: int) -> str:
    """Whether, and how far, waiting helps; for a request asking more than the whole limit (`past`
    it, > 0), that it runs alone and is charged what it uses, up to `past` beyond the limit."""
    sliding = usage.bucket.sliding
    if past <= 0:
        if sliding:
            return f"Or wait for earlier use to leave the sliding window (the oldest leaves in {wait:,} s)."
        return f"Or wait for the window to reset (in {wait:,} s)."
    asks = (
        f"As sent, it asks for more than the whole limit ({_quantity(rule.limit, rule.unit)}): it is "
        f"admitted only alone"
    )
    over = _over(past, rule.unit)
    charged = f"reserving the whole limit, and is charged what it uses, up to about {over} past the limit"
    if sliding:
        return (
            f"{asks}, once no other use is counted in the window, {charged}: at most one such request "
            f"per {rule.period:,} s."
        )
    return (
        f"{asks} in a window, {charged}; waiting for the window to reset (in {wait:,} s) admits one "
        "such request per window."
    )


def _over(amount: float, unit: str) -> str:
    """How far past the limit (tokens rounded up: a figure said as a bound)."""
    return _dollars(amount) if unit == "cost" else f"{math.ceil(amount):,} tokens"


def _quantity(amount: float, unit: str) -> str:
    return _dollars(amount) if unit == "cost" else f"{math.floor(amount):,} tokens"


def _dollars(amount: float) -> str:
    return "$" + plain(float(f"{amount:.6g}"))
