"""Estimated cost in USD of one exchange.

Prices come from a local override table (`price_overrides.json`, for models genai-prices lacks) and
then from genai-prices' bundled data. genai-prices' background updater is never started, so nothing
here touches the network.

genai-prices' own `calc_price` takes about 200 µs a call, too slow for every logged request. So each
(provider, model) is resolved once into a small rate card (USD per token for input, cache reads,
5-minute and 1-hour cache writes, output and reasoning tokens, a flat fee per request, a fee per web
search, and the thresholds of tiered prices), and a call is a few float operations. The card
follows genai-prices' rules exactly; the tests check it against `calc_price` for every model in the
data. A price the card cannot express falls back to genai-prices itself.

Token conventions of `Usage` assumed here (OpenAI's and genai-prices'): `input_tokens` includes
`cached_tokens` (reads) and `cache_write_tokens`, which include `cache_write_1h_tokens`;
`output_tokens` includes `reasoning_tokens`. A part larger than what is left of its whole is capped
at it. A part the model has no price for is billed as its whole is: a 1-hour write as a write, a
write or read as input, reasoning as output. A tiered price (long context) is chosen by the whole
input, cache reads and writes included.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from sluicegate.providers import PRICE_IDS, price_model
from sluicegate.types import Usage
from sluicegate.usage.price_overrides import packaged_overrides, read_overrides
from sluicegate.usage.rates import ImageRates, Pricer, Rates, TieredRates, TimedRates, parts

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, Provider

# Our provider slugs -> genai-prices provider ids, as each provider declares (`Provider.price_id`).
# A slug not here lets genai-prices guess the provider from the model name: huggingface (its router
# resells many providers), replicate (not in genai-prices; see price_overrides.json) and custom.
PROVIDER_IDS: Final[Mapping[str, str]] = MappingProxyType(dict(PRICE_IDS))
RESOLVED_CACHE_SIZE: Final = 4096
# Price keys on what `Usage` reports beside the tokens a rate card prices: audio tokens (the
# Realtime API, audio models), audio lengths (transcription), characters (speech). A model priced by
# any of them is priced by genai-prices itself, which splits audio from text as the provider bills.
_LIBRARY_KEYS: Final = frozenset(
    {
        "input_audio_mtok",
        "cache_audio_read_mtok",
        "output_audio_mtok",
        "audio_hours",
        "input_audio_hours",
        "output_audio_hours",
        "input_mchars",
    }
)

# genai-prices price keys a rate card reproduces, and the usage key each one prices.
_INPUT, _OUTPUT, _CACHE_READ, _CACHE_WRITE, _CACHE_WRITE_1H, _REASONING, _REQUESTS, _WEB_SEARCHES = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",  # Anthropic's 5-minute writes, and any write without a TTL
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
    "requests_kcount",
    "web_searches_kcount",  # a provider's own search tool (Anthropic's web search: $10 / 1,000)
)
_FED_USAGE_KEYS: Final[Mapping[str, str]] = MappingProxyType(
    {
        _INPUT: "input_tokens",
        _OUTPUT: "output_tokens",
        _CACHE_READ: "cache_read_tokens",
        _CACHE_WRITE: "cache_write_tokens",
        _CACHE_WRITE_1H: "cache_write_1h_tokens",
        _REASONING: "output_reasoning_tokens",
        _REQUESTS: "requests",
        _WEB_SEARCHES: "web_searches",
    }
)


@dataclass(frozen=True, slots=True)
class _LibraryPricer:
    """genai-prices' own calculation, for prices a rate card cannot express."""

    model: ModelInfo
    provider: Provider

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        from genai_prices import Usage as PricesUsage

        split = parts(usage)
        input_audio = min(usage.input_audio_tokens, usage.input_tokens)
        counts = PricesUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=split.cache_read,
            cache_write_tokens=split.cache_write_5m + split.cache_write_1h,
            cache_write_1h_tokens=split.cache_write_1h,
            output_reasoning_tokens=split.reasoning,
            input_audio_tokens=input_audio,
            cache_audio_read_tokens=min(usage.cached_audio_tokens, input_audio, split.cache_read),
            output_audio_tokens=min(usage.output_audio_tokens, usage.output_tokens),
            # A transcription's length is its input (whisper: `input_audio_hours`) and its
            # whole (`audio_hours`, for models that price only that).
            input_audio_seconds=usage.audio_seconds,
            audio_seconds=usage.audio_seconds,
            input_characters=usage.characters,
            web_searches=usage.web_searches,
        )
        calc = self.model.calc_price(counts, self.provider, genai_request_timestamp=at)
        return float(calc.total_price)


# What genai-prices prices the units `Usage` reports beside tokens by (`_LibraryPricer.cost` feeds
# them): characters read out, and audio lengths.
_UNIT_PRICE_KEYS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "characters": frozenset({"input_mchars"}),
        "audio_seconds": frozenset({"audio_hours", "input_audio_hours", "output_audio_hours"}),
        "images": frozenset(),  # genai-prices has no price per image (price_overrides.json has)
    }
)


def counts_nothing(price: Pricer, usage: Usage) -> bool:
    """Whether `usage` is counted only in units `price` has no rate for, so that its cost of 0 says
    nothing was priced, not that it was free: a speech request's characters at gpt-4o-mini-tts,
    which OpenAI bills by text and audio tokens; a transcription's seconds at a model billed by
    tokens. Such usage is unpriced. A client's custom cost is taken at its word."""
    if usage.total_tokens or usage.web_searches:
        return False
    units = [unit for unit in _UNIT_PRICE_KEYS if getattr(usage, unit)]
    return bool(units) and not _prices_any(price, units)


def _prices_any(price: Pricer, units: list[str]) -> bool:
    if isinstance(price, Rates):
        return price.per_request > 0  # a fee per request counts the request itself
    if isinstance(price, TieredRates):
        return _prices_any(price.base, units)  # (tiers differ by input tokens only)
    if isinstance(price, TimedRates):
        return any(_prices_any(choice, units) for _, choice in price.choices)
    if isinstance(price, ImageRates):
        return "images" in units or _prices_any(price.tokens, units)
    if isinstance(price, _LibraryPricer):
        keys = {key for prices in _price_sets(price.model) for key, value in vars(prices).items() if value}
        return any(not keys.isdisjoint(_UNIT_PRICE_KEYS[unit]) for unit in units) or "requests_kcount" in keys
    return True


def _price_sets(info: ModelInfo) -> list[ModelPrice]:
    from genai_prices.types import ModelPrice

    prices = info.prices
    return [prices] if isinstance(prices, ModelPrice) else [choice.prices for choice in prices]


class PriceTable:
    """Prices usage by provider and model: the override table first, then genai-prices.

    Each (provider, model) is resolved once and kept (at most RESOLVED_CACHE_SIZE of them, least
    recently used dropped). Safe to share between threads. genai-prices' data is loaded on the first
    `cost` call (about 0.5 s) unless `preload` ran first.
    """

    def __init__(self, overrides: Mapping[tuple[str, str], Pricer] | None = None) -> None:
        """`overrides` maps (provider slug, lowercase model) to rates; None reads price_overrides.json."""
        table = read_overrides(packaged_overrides()) if overrides is None else overrides
        self._overrides: Mapping[tuple[str, str], Pricer] = MappingProxyType(dict(table))
        self._resolve = functools.lru_cache(maxsize=RESOLVED_CACHE_SIZE)(self._resolve_uncached)
        # Which (provider, model) pairs are resolved, so the event loop can tell a lookup that
        # answers from memory from one that would load genai-prices' data (about 0.5 s).
        self._known: set[tuple[str, str]] = set()

    def preload(self) -> None:
        """Load genai-prices' data now rather than on the first `cost` call."""
        from genai_prices.data_snapshot import get_snapshot

        get_snapshot()

    def cost(
        self, provider: str, model: str | None, usage: Usage, *, at: datetime | None = None
    ) -> float | None:
        """Estimated cost in USD of `usage`, or None when the model's price is unknown.

        `provider` is our slug (see PROVIDER_IDS); `at` is when the request ran (default: now),
        which matters for prices that change with time.
        """
        pricer = self.rates(provider, model)
        return None if pricer is None else pricer.cost(usage, at)

    def rates(self, provider: str, model: str | None) -> Pricer | None:
        """The price card of `model` at `provider`, or None when its price is unknown.

        The first lookup of a pair may load genai-prices' data: call it off the event loop unless
        `known` says the pair is resolved.
        """
        if model is None:
            return None
        pricer = self._resolve(provider, model)
        if len(self._known) < RESOLVED_CACHE_SIZE:
            self._known.add((provider, model))
        return pricer

    def known(self, provider: str, model: str) -> bool:
        """Whether `rates(provider, model)` answers from memory (a cheap call)."""
        return (provider, model) in self._known

    def _resolve_uncached(self, provider: str, model: str) -> Pricer | None:
        from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

        ref = model.lower()
        override = self._overrides.get((provider, ref))
        if override is not None:
            return override
        ref = price_model(provider, ref)  # the name genai-prices knows it by
        providers = get_snapshot().providers
        provider_id = PROVIDER_IDS.get(provider)
        if provider_id is not None:
            found = find_provider_by_id(providers, provider_id)
        else:
            # The guess genai-prices makes without a provider id: the first whose pattern matches.
            found = next((p for p in providers if p.model_match and p.model_match.is_match(ref)), None)
        info = found.find_model(ref, all_providers=providers) if found is not None else None
        if found is None or info is None:
            return None
        return _compile(info) or _LibraryPricer(info, found)


def _compile(info: ModelInfo) -> Pricer | None:
    """A rate card equal to genai-prices' pricing of `info`, or None if it has prices we can't express."""
    from genai_prices.types import ModelPrice

    if isinstance(info.prices, ModelPrice):
        return _compile_price(info.prices)
    choices = tuple((choice.constraint, _compile_price(choice.prices)) for choice in info.prices)
    if any(pricer is None for _, pricer in choices):
        return None
    return TimedRates(tuple((constraint, pricer) for constraint, pricer in choices if pricer is not None))


def _compile_price(price: ModelPrice) -> Pricer | None:
    from genai_prices.data_units import unit_data
    from genai_prices.types import TieredPrices

    values = {
        key: value for key, value in vars(price).items() if value is not None and not key.startswith("_")
    }
    fed_dimensions = [unit_data[usage_key]["dimensions"].items() for usage_key in _FED_USAGE_KEYS.values()]
    units_by_price_key = {unit.get("price_key", key): unit for key, unit in unit_data.items()}
    if not _LIBRARY_KEYS.isdisjoint(values):
        return None
    for key, value in values.items():
        if key in _FED_USAGE_KEYS:
            if not isinstance(value, Decimal | TieredPrices):
                return None
            continue
        unit = units_by_price_key.get(key)
        # A price on a unit our usage never reports (audio, images, code executions, ...) counts
        # nothing. One on an ancestor of a unit we report would count something (no such price
        # exists today): leave that to genai-prices.
        if unit is None or any(unit["dimensions"].items() <= fed for fed in fed_dimensions):
            return None

    def rate(price_key: str, n_input: int) -> float | None:
        value = values.get(price_key)
        if value is None:
            return None
        if isinstance(value, TieredPrices):
            # genai-prices' rule: the highest tier whose start the input exceeds, else the base.
            value = next((t.price for t in reversed(value.tiers) if n_input > t.start), value.base)
        return float(value / unit_data[_FED_USAGE_KEYS[price_key]]["per"])

    def rates_at(n_input: int) -> Rates:
        input_rate = rate(_INPUT, n_input) or 0.0
        output_rate = rate(_OUTPUT, n_input) or 0.0
        # An unpriced part is billed with its whole, as genai-prices does when it cannot split it out.
        cache_read = rate(_CACHE_READ, n_input)
        cache_write = rate(_CACHE_WRITE, n_input)
        cache_write = input_rate if cache_write is None else cache_write
        cache_write_1h = rate(_CACHE_WRITE_1H, n_input)
        reasoning = rate(_REASONING, n_input)
        return Rates(
            input=input_rate,
            output=output_rate,
            cache_read=input_rate if cache_read is None else cache_read,
            cache_write=cache_write,
            cache_write_1h=cache_write if cache_write_1h is None else cache_write_1h,
            reasoning=output_rate if reasoning is None else reasoning,
            per_request=rate(_REQUESTS, n_input) or 0.0,
            per_web_search=rate(_WEB_SEARCHES, n_input) or 0.0,
        )

    starts = {
        tier.start for value in values.values() if isinstance(value, TieredPrices) for tier in value.tiers
    }
    tiers = tuple((start, rates_at(start + 1)) for start in sorted(starts, reverse=True))
    return TieredRates(rates_at(0), tiers) if tiers else rates_at(0)
