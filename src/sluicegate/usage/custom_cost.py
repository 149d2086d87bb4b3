"""Per-request prices: Cloudflare AI Gateway's `cf-aig-custom-cost` header.

https://developers.cloudflare.com/ai-gateway/configuration/custom-costs/ documents per-token prices
(`per_token_in`, `per_token_out`; newer pages add `per_cache_read_token` and `per_cache_write_token`).
Cloudflare's own types (`AIGatewayHeaders` in `@cloudflare/workers-types`) take
`{per_token_in?: number; per_token_out?: number} | {total_cost?: number} | string`: either price
may be left out, or the request priced as a whole. Cloudflare documents no more than that its
prices "override the default or public model costs", so a per-token side the header does not name
keeps the price it would have had (`over`): the price table's (or the gateway's `fallback_price`),
and 0 where nothing prices the model. `total_cost` is the request's cost whatever its usage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import orjson

from sluicegate.headertext import json_header_problem
from sluicegate.hints import closest
from sluicegate.types import Usage
from sluicegate.usage.price_overrides import json_type, non_negative
from sluicegate.usage.rates import Pricer, parts

CUSTOM_COST_HEADER: Final = "cf-aig-custom-cost"
TOTAL_COST: Final = "total_cost"
_PER_TOKEN = ("per_token_in", "per_token_out")
_CACHE_PRICES = ("per_cache_read_token", "per_cache_write_token")
_PRICES = (*_PER_TOKEN, *_CACHE_PRICES, TOTAL_COST)
_NOTHING = Usage()


@dataclass(frozen=True, slots=True)
class CustomCost:
    """Prices a client sent in Cloudflare AI Gateway's `cf-aig-custom-cost` header, in USD: per
    token (None: not named), or `total_cost` for the whole request. The header has one cache-write
    price: it applies to writes of any TTL."""

    per_token_in: float | None = None
    per_token_out: float | None = None
    per_cache_read_token: float | None = None
    per_cache_write_token: float | None = None
    total_cost: float | None = None

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        """Cost of `usage` in USD at these prices alone: `total_cost` whatever the usage, else each
        side at its price, a side not named at 0 (`over` prices it otherwise where it can)."""
        if self.total_cost is not None:
            return self.total_cost
        return self.input_cost(usage) + self.output_cost(usage)

    def input_cost(self, usage: Usage) -> float:
        """The input side at `per_token_in`; cache reads and writes at their own prices, else as input."""
        if self.per_token_in is None:
            return 0.0
        fresh, read, written_5m, written_1h, _, _ = parts(usage)
        read_price = self.per_token_in if self.per_cache_read_token is None else self.per_cache_read_token
        write_price = self.per_token_in if self.per_cache_write_token is None else self.per_cache_write_token
        return fresh * self.per_token_in + read * read_price + (written_5m + written_1h) * write_price

    def output_cost(self, usage: Usage) -> float:
        return 0.0 if self.per_token_out is None else usage.output_tokens * self.per_token_out

    def over(self, base: Pricer | None) -> Pricer:
        """The price the log shows for a request that sent this header and that `base` (the price
        table's, else the gateway's fallback; None: nothing) prices otherwise: this one, with a
        per-token side it does not name priced by `base`."""
        whole = self.total_cost is not None or None not in (self.per_token_in, self.per_token_out)
        if whole or base is None or base is self:
            return self
        return _OneSide(self, base)


@dataclass(frozen=True, slots=True)
class _OneSide:
    """A custom cost that names one per-token side, the other priced by `base`: `base`'s cost of
    that side is what its cost of the whole changes by without it (the input tier the whole is
    priced at stays; a flat fee per request or per web search is no token's and is left out, as a
    custom cost has none)."""

    custom: CustomCost
    base: Pricer

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        if usage.web_searches:  # on neither side: left out of both (else one side would keep it)
            usage = replace(usage, web_searches=0)
        # Generated images are output: DALL·E's are priced per image, beside the tokens.
        no_output = replace(usage, output_tokens=0, reasoning_tokens=0, output_audio_tokens=0, images=0)
        base = self.base
        if self.custom.per_token_in is not None:
            return self.custom.input_cost(usage) + base.cost(usage, at) - base.cost(no_output, at)
        return base.cost(no_output, at) - base.cost(_NOTHING, at) + self.custom.output_cost(usage)


def parse_custom_cost(header_value: str) -> CustomCost:
    """Parse a `cf-aig-custom-cost` header value, e.g. `{"per_token_in":0.000001,"per_token_out":0.000002}`.

    At least one price: `per_token_in`, `per_token_out` (either may be left out), with
    `per_cache_read_token` and `per_cache_write_token` beside `per_token_in` (they price parts of
    the input); or `total_cost` alone. Each must be a finite number >= 0. Other keys are ignored,
    but for one close to a price not given (a misspelling).
    Raises ValueError saying what is wrong.
    """
    try:
        document = orjson.loads(header_value)
    except orjson.JSONDecodeError as exc:
        problem = json_header_problem(CUSTOM_COST_HEADER, header_value)
        raise ValueError(problem or f"{CUSTOM_COST_HEADER}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{CUSTOM_COST_HEADER}: expected a JSON object, got {json_type(document)}")
    for key in document:
        # A misspelt price (`per_token_input`) would otherwise be reported as the one it meant missing.
        meant = closest(key, _PRICES) if key not in _PRICES else None
        if meant is not None and meant not in document:
            raise ValueError(f"{CUSTOM_COST_HEADER}: unknown key {key!r}; did you mean {meant!r}?")
    named = [key for key in _PRICES if key in document]
    if not named:
        raise ValueError(
            f"{CUSTOM_COST_HEADER}: names no price: give per_token_in and/or per_token_out (USD per"
            f" token), or {TOTAL_COST} (USD for the request)"
        )
    if TOTAL_COST in document and len(named) > 1:
        others = " and ".join(key for key in named if key != TOTAL_COST)
        raise ValueError(
            f"{CUSTOM_COST_HEADER}: {TOTAL_COST} prices the whole request: send it without {others}"
        )
    cache = [key for key in _CACHE_PRICES if key in document]
    if cache and "per_token_in" not in document:
        raise ValueError(
            f"{CUSTOM_COST_HEADER}: {' and '.join(cache)} price parts of the input: send per_token_in with"
            f" {'them' if len(cache) > 1 else 'it'}"
        )

    def number(key: str) -> float | None:
        return non_negative(document[key], f"{CUSTOM_COST_HEADER}: {key}") if key in document else None

    return CustomCost(*(number(key) for key in _PRICES))
