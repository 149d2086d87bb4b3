"""Inject stored provider keys into steps that came without one of their own."""

from __future__ import annotations

from sluicegate.exchange import Exchange, Reply
from sluicegate.keys import CREDENTIAL_HEADERS, KeyDirectory, key_header
from sluicegate.pipeline import Handler


class InjectKeys:
    def __init__(self, keys: KeyDirectory) -> None:
        self._keys = keys

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        missing = [step for step in exchange.steps if not any(h in step.headers for h in CREDENTIAL_HEADERS)]
        if missing:
            stored = await self._keys.keys(exchange.account, exchange.gateway_slug)
            for step in missing:
                key = stored.get(step.provider.name)
                if key is not None:
                    name, value = key_header(step.provider.name, key)
                    step.headers[name] = value
        return await call_next(exchange)
