"""Inject what the gateway stores for a step's provider: an account's custom provider's headers,
and a gateway's provider key when the step came without one of its own."""

from __future__ import annotations

from sluicegate.custom_providers import AccountProvider
from sluicegate.errors import Forbidden
from sluicegate.exchange import Exchange, Reply, Step
from sluicegate.keys import CREDENTIAL_HEADERS, KeyDirectory, key_header
from sluicegate.pipeline import Handler


class InjectKeys:
    def __init__(self, keys: KeyDirectory) -> None:
        self._keys = keys

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        for index, step in enumerate(exchange.steps):
            if isinstance(step.provider, AccountProvider):
                _set_custom_headers(exchange, index, step, step.provider)
        missing = [step for step in exchange.steps if not any(h in step.headers for h in CREDENTIAL_HEADERS)]
        if missing:
            stored = await self._keys.keys(exchange.account, exchange.gateway_slug)
            for step in missing:
                key = stored.get(step.provider.name)
                if key is not None:
                    name, value = key_header(step.provider.name, key)
                    step.headers[name] = value
        return await call_next(exchange)


def _set_custom_headers(exchange: Exchange, index: int, step: Step, provider: AccountProvider) -> None:
    """The provider's stored headers replace any of the same name the request brought: they are
    its configuration. A provider that may not be used refuses the whole request, before any
    cache answers for it."""
    if provider.refusal is not None:
        where = f"step {index}: " if exchange.kind == "universal" else ""
        raise Forbidden(where + provider.refusal, provider=provider.name)
    for name, value in provider.headers:
        step.headers[name] = value
        step.stored_values += (value,)
