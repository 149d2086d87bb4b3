"""Which price applies to a request: the price table's, the gateway's fallback, its `cf-aig-custom-cost`.

Two prices, which agree unless the client sent a custom cost (docs/limits.md, "Custom costs"):

- `price`: what cost rules charge. The operator's prices come first — the table (and the
  override file), then the gateway's `fallback_price` — and the client's custom cost only prices a
  model neither knows. A client cannot lower what a rule counts by naming its own price.
- `shown`: what the log, the metrics and the spend reports show: the custom cost when the request
  sent one (Cloudflare's meaning: the negotiated price, shown in place of the list price), else
  `price`.

Looking a model up in the price table is cheap once that (provider, model) is resolved; the first
lookup may load genai-prices' data, so callers on the event loop ask `ready` first.
"""

from __future__ import annotations

import functools

from sluicegate.exchange import Step
from sluicegate.gateway import FallbackPrice
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable, counts_nothing
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
        usage: Usage | None = None,
    ) -> Pricer | None:
        """What a cost rule charges `step` at: the table's price for the model its answer named
        (`answered`: an Azure deployment's), else for the model the request named, else the
        gateway's fallback, else the request's custom cost — which also prices usage counted in no
        unit the operator's price has a rate for (`counts_nothing`); None when nothing prices it.
        May load price data: see `ready`."""
        if step.facts.unpriced_units:
            return custom_cost
        rates = None if answered is None else self._table.rates(step.provider.name, answered)
        if rates is None:
            rates = self._table.rates(step.provider.name, step.facts.model)
        if rates is None and fallback is not None:
            rates = _fallback_rates(fallback)
        if rates is not None and not (usage is not None and counts_nothing(rates, usage)):
            return rates
        return custom_cost  # (what prices no unit the usage counts leaves the client's price)

    def model_price(
        self, provider: str, model: str | None, fallback: FallbackPrice | None, usage: Usage | None = None
    ) -> Pricer | None:
        """What a model a step runs beside its own is charged at (a realtime session's input audio
        transcription model: `realtime/transcriptions.py`): the table's price, else the gateway's
        fallback; None when neither prices it, no model is named, or (as `price`) none of the
        `usage` it is billed for is counted in units the price has a rate for. A request's custom
        cost names its own model's prices, not this one's. May load price data: see `model_ready`."""
        if model is None:
            return None
        rates = self._table.rates(provider, model)
        if rates is None and fallback is not None:
            rates = _fallback_rates(fallback)
        return None if rates is None or (usage is not None and counts_nothing(rates, usage)) else rates

    def model_ready(self, provider: str, model: str | None) -> bool:
        """Whether `model_price` answers from memory, cheaply enough for the event loop."""
        return model is None or self._table.known(provider, model)

    def ready(self, step: Step, custom_cost: CustomCost | None, answered: str | None = None) -> bool:
        """Whether `price` answers from memory, cheaply enough for the event loop. `custom_cost`
        does not decide it: the table is consulted whatever the request sent."""
        model = step.facts.model
        return (model is None or self._table.known(step.provider.name, model)) and (
            answered is None or self._table.known(step.provider.name, answered)
        )


def shown(price: Pricer | None, custom_cost: CustomCost | None) -> Pricer | None:
    """What the log shows for a request charged at `price`: its custom cost if it sent one (a
    per-token side the header leaves out priced at `price`'s: `CustomCost.over`)."""
    return price if custom_cost is None else custom_cost.over(price)


def unpriced(
    method: str, step: Step, price: Pricer | None, answered: str | None = None, usage: Usage | None = None
) -> bool:
    """Whether `step` runs a model that nothing prices: its cost cannot be known. A GET is billed
    when its answer reports tokens (a finished Replicate prediction, a background response's poll);
    tokens of no model, which nothing can price, are unpriced too, never free."""
    if price is not None:
        return False
    tokens = usage is not None and usage.total_tokens > 0
    if step.facts.model is None and answered is None:
        return tokens
    return method in _BILLED_METHODS or tokens


def unmeasured(step: Step, usage: Usage | None) -> bool:
    """Whether a successful answer reports none of what its request is billed by, which only the
    answer can say (`RequestFacts.priced_by_answer`: a transcription asked for as plain text): its
    cost is unknown, whatever prices its model."""
    return usage is None and step.facts.priced_by_answer


@functools.lru_cache(maxsize=256)
def _fallback_rates(fallback: FallbackPrice) -> Rates:
    return Rates.per_million(fallback.input_per_mtok, fallback.output_per_mtok)
