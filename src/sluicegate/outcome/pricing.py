"""Which price applies to a request: its `cf-aig-custom-cost`, the price table, the gateway's fallback.

Looking a model up in the price table is cheap once that (provider, model) is resolved; the first
lookup may load genai-prices' data, so callers on the event loop ask `ready` first.
"""

from __future__ import annotations

import functools

from sluicegate.exchange import Step
from sluicegate.gateway import FallbackPrice
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.custom_cost import CustomCost
from sluicegate.usage.rates import Pricer, Rates

# Requests that may run a model: a GET (a listing, a prediction's status) is not billed by usage.
_BILLED_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Pricing:
    def __init__(self, table: PriceTable) -> None:
        self._table = table

    def price(
        self,
        step: Step,
        custom_cost: CustomCost | None,
        fallback: FallbackPrice | None,
        answered: str | None = None,
    ) -> Pricer | None:
        """The price of `step`: the request's custom cost, the table's for the model its answer
        named (`answered`: an Azure deployment's), else for the model the request named, the
        gateway's fallback, or None when nothing prices it. May load price data: see `ready`."""
        if custom_cost is not None:
            return custom_cost
        rates = None if answered is None else self._table.rates(step.provider.name, answered)
        if rates is None:
            rates = self._table.rates(step.provider.name, step.facts.model)
        if rates is not None:
            return rates
        return _fallback_rates(fallback) if fallback is not None else None

    def ready(self, step: Step, custom_cost: CustomCost | None, answered: str | None = None) -> bool:
        """Whether `price` answers from memory, cheaply enough for the event loop."""
        model = step.facts.model
        if custom_cost is not None or model is None:
            return True
        return self._table.known(step.provider.name, model) and (
            answered is None or self._table.known(step.provider.name, answered)
        )


def unpriced(method: str, step: Step, price: Pricer | None) -> bool:
    """Whether `step` runs a named model that nothing prices: its cost cannot be known."""
    return price is None and step.facts.model is not None and method in _BILLED_METHODS


@functools.lru_cache(maxsize=256)
def _fallback_rates(fallback: FallbackPrice) -> Rates:
    return Rates.per_million(fallback.input_per_mtok, fallback.output_per_mtok)
