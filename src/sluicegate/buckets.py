"""Which bucket a rule counts a request in, for the rate-limit stage and for reports of remaining
budget alike.

A key names the rule by its position and content (editing a rule starts it afresh) and the value of
its scope: `{account}/{gateway}/{index}.{digest}:{scope value}` for a gateway's rules, and
`{account}/~{token id}/{index}.{digest}` for a token's own, one bucket per token over every gateway
it reaches (`~` is not a slug character, so the two never meet).
"""

from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple
from urllib.parse import quote

from sluicegate.gateway import RateLimitRule
from sluicegate.storage.limiter import Bucket


class RuleFacts(NamedTuple):
    """What a rule's content alone decides, worked out once per rule: its digest, so an edited rule
    counts afresh, and its label as a header value."""

    fingerprint: str
    label: str


def rule_facts(rule: RateLimitRule) -> RuleFacts:
    """Memoised by the field values: an `lru_cache` keyed by the model itself hashed and compared
    the model per request."""
    return _facts_of(tuple(rule.__dict__.items()))


@functools.lru_cache(maxsize=4096)
def _facts_of(fields: tuple[tuple[str, object], ...]) -> RuleFacts:
    rule = RateLimitRule.model_validate(dict(fields))
    # `reserve` only sizes reservations: changing it does not change what is counted.
    digest = hashlib.sha256(rule.model_dump_json(exclude={"reserve"}).encode()).hexdigest()[:12]
    return RuleFacts(digest, header_text(rule.label))


def gateway_bucket(account: str, gateway: str, index: int, rule: RateLimitRule, scope_value: str) -> Bucket:
    """The bucket of a gateway's rule `index` for one value of its scope ("" for `gateway`)."""
    return bucket(rule, gateway_key(account, gateway, index, rule_facts(rule).fingerprint, scope_value))


def token_bucket(account: str, token_id: str, index: int, rule: RateLimitRule) -> Bucket:
    """The bucket of a token's own rule `index`."""
    return bucket(rule, token_key(account, token_id, index, rule_facts(rule).fingerprint))


def gateway_key(account: str, gateway: str, index: int, fingerprint: str, scope_value: str) -> str:
    return f"{account}/{gateway}/{index}.{fingerprint}:{scope_value}"


def token_key(account: str, token_id: str, index: int, fingerprint: str) -> str:
    return f"{account}/~{token_id}/{index}.{fingerprint}"


def bucket(rule: RateLimitRule, key: str) -> Bucket:
    return Bucket(key, rule.limit, rule.period, rule.technique == "sliding", rule.unit)


def header_text(text: str) -> str:
    """`text` as a header value: visible ASCII and spaces kept, anything else percent-encoded."""
    return "".join(c if " " <= c <= "~" and c != "%" else quote(c, safe="") for c in text)
