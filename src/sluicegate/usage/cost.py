"""Estimated cost in USD of one exchange.

Prices come from a local override table (`price_overrides.json`, for models genai-prices lacks) and
then from genai-prices' bundled data. genai-prices' background updater is never started, so nothing
here touches the network.

genai-prices' own `calc_price` takes about 200 µs a call, too slow for every logged request. So each
(provider, model) is resolved once into a small rate card (USD per token for input, cache reads,
5-minute and 1-hour cache writes, output and reasoning tokens, a flat fee per request, and the
thresholds of tiered prices), and a call is a few float operations. The card follows genai-prices'
rules exactly; the tests check it against `calc_price` for every model in the data. A price the
card cannot express falls back to genai-prices itself.

Token conventions of `Usage` assumed here (OpenAI's and genai-prices'): `input_tokens` includes
`cached_tokens` (reads) and `cache_write_tokens`, which include `cache_write_1h_tokens`;
`output_tokens` includes `reasoning_tokens`. A part larger than what is left of its whole is capped
at it. A part the model has no price for is billed as its whole is: a 1-hour write as a write, a
write or read as input, reasoning as output. A tiered price (long context) is chosen by the whole
input, cache reads and writes included.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

import orjson

from sluicegate.providers import PRICE_IDS
from sluicegate.types import Usage

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, Provider, StartDateConstraint, TimeOfDateConstraint

# Our provider slugs -> genai-prices provider ids, as each provider declares (`Provider.price_id`).
# A slug not here lets genai-prices guess the provider from the model name: huggingface (its router
# resells many providers), replicate (not in genai-prices; see price_overrides.json) and custom.
PROVIDER_IDS: Final[Mapping[str, str]] = MappingProxyType(dict(PRICE_IDS))
OVERRIDES_RESOURCE: Final = "price_overrides.json"
_OVERRIDE_KEYS: Final = frozenset(
    {
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
        "cache_write_1h_per_mtok",
        "per_image",
        "comment",
    }
)
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
CUSTOM_COST_HEADER: Final = "cf-aig-custom-cost"

# genai-prices price keys a rate card reproduces, and the usage key each one prices.
_INPUT, _OUTPUT, _CACHE_READ, _CACHE_WRITE, _CACHE_WRITE_1H, _REASONING, _REQUESTS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",  # Anthropic's 5-minute writes, and any write without a TTL
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
    "requests_kcount",
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
    }
)


class Parts(NamedTuple):
    """`Usage` split into the disjoint parts a bill prices."""

    input: int  # input neither read from nor written to a cache
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    output: int  # output that is not reasoning
    reasoning: int


def parts(usage: Usage) -> Parts:
    """The parts of `usage`, each capped by what is left of its whole (reads first, then writes)."""
    read = min(usage.cached_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - read)
    written_1h = min(usage.cache_write_1h_tokens, written)
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    return Parts(
        usage.input_tokens - read - written,
        read,
        written - written_1h,
        written_1h,
        usage.output_tokens - reasoning,
        reasoning,
    )


@dataclass(frozen=True, slots=True)
class Rates:
    """Prices in USD per token, plus a flat fee per request. `cache_write` prices 5-minute writes
    (and writes a provider does not split by TTL), `cache_write_1h` one-hour writes."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    reasoning: float
    per_request: float = 0.0

    @classmethod
    def per_million(
        cls,
        input: float,
        output: float,
        cache_read: float | None = None,
        *,
        cache_write: float | None = None,
        cache_write_1h: float | None = None,
    ) -> Rates:
        """Rates from USD per million tokens; a cache price not given is that of its whole (a read
        or a write is priced as input, a 1-hour write as a write)."""
        write = input if cache_write is None else cache_write
        return cls(
            input=input / 1e6,
            output=output / 1e6,
            cache_read=(input if cache_read is None else cache_read) / 1e6,
            cache_write=write / 1e6,
            cache_write_1h=(write if cache_write_1h is None else cache_write_1h) / 1e6,
            reasoning=output / 1e6,
        )

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        """Cost of `usage` in USD. `at` is ignored: these rates do not change with time."""
        # `parts(usage)`, inlined: this runs for every request, on the event loop.
        total_in, total_out = usage.input_tokens, usage.output_tokens
        read = min(usage.cached_tokens, total_in)
        written = min(usage.cache_write_tokens, total_in - read)
        written_1h = min(usage.cache_write_1h_tokens, written)
        reasoning = min(usage.reasoning_tokens, total_out)
        return (
            (total_in - read - written) * self.input
            + read * self.cache_read
            + (written - written_1h) * self.cache_write
            + written_1h * self.cache_write_1h
            + (total_out - reasoning) * self.output
            + reasoning * self.reasoning
            + self.per_request
        )


class Pricer(Protocol):
    """A price card: the cost in USD of some usage (at a time, for prices that change with it)."""

    def cost(self, usage: Usage, at: datetime | None = None) -> float: ...


@dataclass(frozen=True, slots=True)
class ImageRates:
    """A price per image by `"<quality> <size>"` (DALL·E's), beside the model's token rates. An
    image of a size the table lacks is priced as its dearest image: a budget must not under-count."""

    per_image: Mapping[str, float]
    tokens: Rates

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        images = 0.0
        if usage.images:
            price = self.per_image.get(usage.image_size)
            images = usage.images * (max(self.per_image.values()) if price is None else price)
        return self.tokens.cost(usage) + images


@dataclass(frozen=True, slots=True)
class _TieredRates:
    """Rates chosen by total input tokens: those of the highest tier start the input exceeds."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...]  # (start, rates), highest start first

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        for start, rates in self.tiers:
            if usage.input_tokens > start:
                return rates.cost(usage)
        return self.base.cost(usage)


@dataclass(frozen=True, slots=True)
class _TimedRates:
    """Prices that change with time (new list prices, off-peak hours); genai-prices' selection rule."""

    choices: tuple[tuple[StartDateConstraint | TimeOfDateConstraint | None, Pricer], ...]

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        when = at or datetime.now(tz=UTC)
        # The last active choice wins; none active means the first.
        for constraint, pricer in reversed(self.choices):
            if constraint is None or constraint.active(when):
                return pricer.cost(usage, when)
        return self.choices[0][1].cost(usage, when)


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
        )
        calc = self.model.calc_price(counts, self.provider, genai_request_timestamp=at)
        return float(calc.total_price)


class PriceTable:
    """Prices usage by provider and model: the override table first, then genai-prices.

    Each (provider, model) is resolved once and kept (at most RESOLVED_CACHE_SIZE of them, least
    recently used dropped). Safe to share between threads. genai-prices' data is loaded on the first
    `cost` call (about 0.5 s) unless `preload` ran first.
    """

    def __init__(self, overrides: Mapping[tuple[str, str], Pricer] | None = None) -> None:
        """`overrides` maps (provider slug, lowercase model) to rates; None reads price_overrides.json."""
        table = read_overrides(_packaged_overrides()) if overrides is None else overrides
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
        # Gemini's native API names models by resource path ("models/gemini-2.5-flash").
        ref = ref.removeprefix("models/")
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
    return _TimedRates(tuple((constraint, pricer) for constraint, pricer in choices if pricer is not None))


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
        # A price on a unit our usage never reports (audio, images, web searches, ...) counts
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
        )

    starts = {
        tier.start for value in values.values() if isinstance(value, TieredPrices) for tier in value.tiers
    }
    tiers = tuple((start, rates_at(start + 1)) for start in sorted(starts, reverse=True))
    return _TieredRates(rates_at(0), tiers) if tiers else rates_at(0)


def _packaged_overrides() -> bytes:
    return resources.files("sluicegate.usage").joinpath(OVERRIDES_RESOURCE).read_bytes()


def read_overrides(raw: bytes | str) -> dict[tuple[str, str], Pricer]:
    """Parse an override table (the format of price_overrides.json) into (provider, model) -> rates.

    Raises ValueError naming the entry at fault.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"price overrides: not valid JSON ({exc})") from None
    prices = document.get("prices") if isinstance(document, dict) else None
    if not isinstance(prices, dict):
        raise ValueError("price overrides: expected an object with a 'prices' object")
    table: dict[tuple[str, str], Pricer] = {}
    for provider, models in prices.items():
        if not isinstance(models, dict):
            raise ValueError(f"price overrides: {provider!r} must map model names to prices")
        for model, entry in models.items():
            where = f"price overrides: {provider}/{model}"
            if not isinstance(entry, dict):
                raise ValueError(f"{where}: expected an object")
            per_image = _per_image(entry.get("per_image"), where)
            missing = [key for key in ("input_per_mtok", "output_per_mtok") if key not in entry]
            if missing and per_image is None:
                raise ValueError(f"{where}: missing {' and '.join(missing)}")
            for key in entry.keys() - _OVERRIDE_KEYS:
                # A misspelt price would silently bill its tokens as input: refuse it.
                close = difflib.get_close_matches(key, _OVERRIDE_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{where}: unknown key {key!r}{hint}; known: {', '.join(sorted(_OVERRIDE_KEYS))}"
                )
            rates = Rates.per_million(
                _non_negative(entry.get("input_per_mtok", 0), f"{where}: input_per_mtok"),
                _non_negative(entry.get("output_per_mtok", 0), f"{where}: output_per_mtok"),
                _optional(entry, "cache_read_per_mtok", where),
                cache_write=_optional(entry, "cache_write_per_mtok", where),
                cache_write_1h=_optional(entry, "cache_write_1h_per_mtok", where),
            )
            table[provider, model.lower()] = rates if per_image is None else ImageRates(per_image, rates)
    return table


def _per_image(value: object, where: str) -> Mapping[str, float] | None:
    """`per_image`: USD per image by `"<quality> <size>"` (e.g. `"hd 1024x1792"`), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"{where}: per_image must be a non-empty object of USD per image by '<quality> <size>'"
        )
    return MappingProxyType(
        {str(key): _non_negative(price, f"{where}: per_image[{key!r}]") for key, price in value.items()}
    )


def _optional(entry: dict[str, object], key: str, where: str) -> float | None:
    value = entry.get(key)
    return None if value is None else _non_negative(value, f"{where}: {key}")


def _non_negative(value: object, what: str) -> float:
    """`value` as a float, or ValueError unless it is a finite JSON number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {_json_type(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


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
    `per_cache_write_token` optional; each must be a finite number >= 0. Other keys are ignored.
    Raises ValueError saying what is wrong.
    """
    try:
        document = orjson.loads(header_value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{CUSTOM_COST_HEADER}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{CUSTOM_COST_HEADER}: expected a JSON object, got {_json_type(document)}")
    missing = [key for key in ("per_token_in", "per_token_out") if key not in document]
    if missing:
        raise ValueError(f"{CUSTOM_COST_HEADER}: missing {' and '.join(missing)}")

    def number(key: str) -> float:
        return _non_negative(document[key], f"{CUSTOM_COST_HEADER}: {key}")

    return CustomCost(
        per_token_in=number("per_token_in"),
        per_token_out=number("per_token_out"),
        per_cache_read_token=number("per_cache_read_token") if "per_cache_read_token" in document else None,
        per_cache_write_token=number("per_cache_write_token")
        if "per_cache_write_token" in document
        else None,
    )
