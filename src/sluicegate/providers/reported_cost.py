"""The charge a provider states in its own answer, beside the token counts: `usage.cost`.

Two providers of OpenAI's API put it there, each in its own shape, in a whole answer and in the
final usage chunk of a stream (`stream_options.include_usage`):

- OpenRouter (https://openrouter.ai/docs/use-cases/usage-accounting): `cost`, a number, the credits
  (USD) taken from the account. With the client's own provider key (`is_byok: true`) that is only
  OpenRouter's fee, and `cost_details.upstream_inference_cost` is what the provider billed that key:
  the user pays both, so both are the charge. Without BYOK `upstream_inference_cost` is part of
  `cost`, not added to it. A BYOK answer without that figure states no whole charge: None.
- Perplexity (https://docs.perplexity.ai/, the usage `cost` object): `input_tokens_cost`,
  `output_tokens_cost`, `request_cost` (its per-request search fee), `reasoning_tokens_cost`,
  `citation_tokens_cost`, `search_queries_cost` and their sum `total_cost`, in USD: the charge.

Read from every usage object of OpenAI's shape, but taken as the charge only for those two
(`OpenAICompatible.reports_cost`, outcome/meter.py), on their endpoints and the compat endpoint: a
custom provider's `cost` may be a proxy's own figure in another unit. The other providers (OpenAI,
Azure, Groq, Mistral, DeepSeek, Cohere's compatibility API, Vertex's, Workers AI, Hugging Face,
Replicate) state no charge, and their usage has no `cost`.
"""

from __future__ import annotations

import math
from typing import Any


def reported_cost(usage: dict[str, Any]) -> float | None:
    """The USD charge stated in an OpenAI-style usage object, or None when it states none (or a
    figure that is not a finite amount >= 0, which then prices nothing: the price table does)."""
    cost = usage.get("cost")
    if isinstance(cost, dict):  # Perplexity
        return _amount(cost.get("total_cost"))
    fee = _amount(cost)  # OpenRouter
    if fee is None or usage.get("is_byok") is not True:
        return fee
    details = usage.get("cost_details")
    upstream = _amount(details.get("upstream_inference_cost")) if isinstance(details, dict) else None
    return None if upstream is None else fee + upstream


def _amount(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    amount = float(value)
    return amount if math.isfinite(amount) and amount >= 0 else None
