"""Rate cards: `Usage` split into the parts a bill prices, and the small pricers a (provider,
model) resolves to (USD per token, per image, by input tier, by time). See `cost` for where the
prices come from and the token conventions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sluicegate.types import Usage

if TYPE_CHECKING:
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint


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
    """Prices in USD per token, plus a flat fee per request and a fee per web search the provider's
    own tool ran. `cache_write` prices 5-minute writes (and writes a provider does not split by
    TTL), `cache_write_1h` one-hour writes."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    reasoning: float
    per_request: float = 0.0
    per_web_search: float = 0.0

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
            + usage.web_searches * self.per_web_search
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
class TieredRates:
    """Rates chosen by total input tokens: those of the highest tier start the input exceeds."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...]  # (start, rates), highest start first

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        for start, rates in self.tiers:
            if usage.input_tokens > start:
                return rates.cost(usage)
        return self.base.cost(usage)


@dataclass(frozen=True, slots=True)
class TimedRates:
    """Prices that change with time (new list prices, off-peak hours); genai-prices' selection rule."""

    choices: tuple[tuple[StartDateConstraint | TimeOfDateConstraint | None, Pricer], ...]

    def cost(self, usage: Usage, at: datetime | None = None) -> float:
        when = at or datetime.now(tz=UTC)
        # The last active choice wins; none active means the first.
        for constraint, pricer in reversed(self.choices):
            if constraint is None or constraint.active(when):
                return pricer.cost(usage, when)
        return self.choices[0][1].cost(usage, when)
