"""The request pipeline: stages of one shape, chained once at start-up.

A stage is `async (exchange, call_next) -> Reply`: it returns early (an error, a cache hit, a
refusal) or awaits `call_next(exchange)`. The last link is a plain `async (exchange) -> Reply`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol

from sluicegate.exchange import Exchange, Reply

Handler = Callable[[Exchange], Awaitable[Reply]]


class Stage(Protocol):
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply: ...


def build_pipeline(stages: Sequence[Stage], endpoint: Handler) -> Handler:
    """Chain `stages` (outermost first) around `endpoint`."""
    handler = endpoint
    for stage in reversed(stages):
        handler = partial(stage, call_next=handler)
    return handler
