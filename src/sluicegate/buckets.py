"""Which bucket a rule counts a request in, for the rate-limit stage and for reports of remaining
budget alike.

A key names the rule by its counter and the value of its scope: `{account}/{gateway}/{counter}:{scope
value}` for a gateway's rules, and `{account}/~{token id}/{counter}` for a token's own, one bucket per
token over every gateway it reaches (`~` is not a slug character, so the two never meet).

A rule's counter is `{index}.{digest}`: where the rule stood when it was saved first, and a digest
of its content, so that editing a rule starts it afresh. Saving rules again keeps each unchanged
rule's counter wherever it moved (`carry_counters`): a rule added before a spent budget must not give
that budget a fresh count. A rule stored before counters were kept (`counter` empty) counts under
its position, as every rule once did, until its gateway or token is saved again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import NamedTuple, TypeVar
from urllib.parse import quote

from sluicegate.gateway import RateLimitRule
from sluicegate.storage.limiter import Bucket

Rule = TypeVar("Rule", bound=RateLimitRule)


class RuleFacts(NamedTuple):
    """What a rule's content alone decides, worked out once per rule: its digest, so an edited rule
    counts afresh, and its label as a header value; and the counter kept for it, if any."""

    fingerprint: str
    label: str
    counter: str

    def counter_at(self, index: int) -> str:
        """The rule's counter, where it is rule `index` of its list."""
        return self.counter or f"{index}.{self.fingerprint}"


def rule_facts(rule: RateLimitRule) -> RuleFacts:
    """Memoised by the field values: an `lru_cache` keyed by the model itself hashed and compared
    the model per request."""
    return _facts_of(tuple(rule.__dict__.items()))


@functools.lru_cache(maxsize=4096)
def _facts_of(fields: tuple[tuple[str, object], ...]) -> RuleFacts:
    rule = RateLimitRule.model_validate(dict(fields))
    # `reserve` only sizes reservations: changing it does not change what is counted.
    digest = hashlib.sha256(rule.model_dump_json(exclude={"reserve", "counter"}).encode()).hexdigest()[:12]
    return RuleFacts(digest, header_text(rule.label), rule.counter)


def carry_counters(saved: Sequence[RateLimitRule], rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """`rules`, about to replace `saved`, each with its counter named: a rule whose content was
    saved already keeps that rule's counter, wherever either stands (the first unclaimed one, for
    rules written twice); any other gets one of its own. A counter a client sent is not taken."""
    kept: dict[str, list[str]] = {}
    for index, rule in enumerate(saved):
        facts = rule_facts(rule)
        kept.setdefault(facts.fingerprint, []).append(facts.counter_at(index))
    named: list[str | None] = [
        kept[fingerprint].pop(0) if kept.get(fingerprint := rule_facts(rule).fingerprint) else None
        for rule in rules
    ]
    taken = {name for name in named if name is not None}
    carried = []
    for index, (rule, name) in enumerate(zip(rules, named, strict=True)):
        if name is None:
            name = fresh = f"{index}.{rule_facts(rule).fingerprint}"
            copy = 1
            while name in taken:  # the same content saved before, at this index, and claimed
                name, copy = f"{fresh}.{copy}", copy + 1
            taken.add(name)
        carried.append(rule if rule.counter == name else rule.model_copy(update={"counter": name}))
    return tuple(carried)


def absent_scope_value(scope: str) -> str:
    """The scope value of a request that has none (no token, no model, no such metadata field): such
    requests share one bucket, so that leaving the value out does not escape a per-value limit."""
    return "anonymous" if scope == "token" else ""


def gateway_bucket(account: str, gateway: str, index: int, rule: RateLimitRule, scope_value: str) -> Bucket:
    """The bucket of a gateway's rule `index` for one value of its scope ("" for `gateway`)."""
    return bucket(rule, gateway_key(account, gateway, rule_facts(rule).counter_at(index), scope_value))


def token_bucket(account: str, token_id: str, index: int, rule: RateLimitRule) -> Bucket:
    """The bucket of a token's own rule `index`."""
    return bucket(rule, token_key(account, token_id, rule_facts(rule).counter_at(index)))


def gateway_key(account: str, gateway: str, counter: str, scope_value: str) -> str:
    return f"{account}/{gateway}/{counter}:{scope_value}"


def token_key(account: str, token_id: str, counter: str) -> str:
    return f"{account}/~{token_id}/{counter}"


def bucket(rule: RateLimitRule, key: str) -> Bucket:
    return Bucket(key, rule.limit, rule.period, rule.technique == "sliding", rule.unit)


def header_text(text: str) -> str:
    """`text` as a header value: visible ASCII and spaces kept, anything else percent-encoded."""
    return "".join(c if " " <= c <= "~" and c != "%" else quote(c, safe="") for c in text)
