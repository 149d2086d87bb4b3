"""Per-request prices: Cloudflare AI Gateway's `cf-aig-custom-cost` header."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson

from sluicegate.hints import closest
from sluicegate.types import Usage
from sluicegate.usage.price_overrides import json_type, non_negative
from sluicegate.usage.rates import parts

CUSTOM_COST_HEADER: Final = "cf-aig-custom-cost"
_PRICES = ("per_token_in", "per_token_out", "per_cache_read_token", "per_cache_write_token")


@dataclass(frozen=True, slots=True)
class CustomCost:
    """Per-token prices a client sent in Cloudflare AI Gateway's `cf-aig-custom-cost` header.

    https://developers.cloudflare.com/ai-gateway/configuration/custom-costs/ — USD per token. The
    header has one cache-write price: it applies to writes of any TTL.
    """

    per_token_in: float
    per_token_out: float
    per_cache_read_token: float | None = None
    per_cache_write_token: float | None = None

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        """Cost of `usage` in USD; cache reads and writes at their prices when given, else as input."""
        fresh, read, written_5m, written_1h, _, _ = parts(usage)
        read_price = self.per_token_in if self.per_cache_read_token is None else self.per_cache_read_token
        write_price = self.per_token_in if self.per_cache_write_token is None else self.per_cache_write_token
        return (
            fresh * self.per_token_in
            + read * read_price
            + (written_5m + written_1h) * write_price
            + usage.output_tokens * self.per_token_out
        )


def parse_custom_cost(header_value: str) -> CustomCost:
    """Parse a `cf-aig-custom-cost` header value, e.g. `{"per_token_in":0.000001,"per_token_out":0.000002}`.

    `per_token_in` and `per_token_out` are required, `per_cache_read_token` and
    `per_cache_write_token` optional; each must be a finite number >= 0. Other keys are ignored,
    but for one close to a price not given (a misspelling).
    Raises ValueError saying what is wrong.
    """
    try:
        document = orjson.loads(header_value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{CUSTOM_COST_HEADER}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{CUSTOM_COST_HEADER}: expected a JSON object, got {json_type(document)}")
    for key in document:
        # A misspelt price (`per_token_input`) would otherwise be reported as the one it meant missing.
        meant = closest(key, _PRICES) if key not in _PRICES else None
        if meant is not None and meant not in document:
            raise ValueError(f"{CUSTOM_COST_HEADER}: unknown key {key!r}; did you mean {meant!r}?")
    missing = [key for key in ("per_token_in", "per_token_out") if key not in document]
    if missing:
        raise ValueError(f"{CUSTOM_COST_HEADER}: missing {' and '.join(missing)}")

    def number(key: str) -> float:
        return non_negative(document[key], f"{CUSTOM_COST_HEADER}: {key}")

    return CustomCost(
        per_token_in=number("per_token_in"),
        per_token_out=number("per_token_out"),
        per_cache_read_token=number("per_cache_read_token") if "per_cache_read_token" in document else None,
        per_cache_write_token=number("per_cache_write_token")
        if "per_cache_write_token" in document
        else None,
    )
