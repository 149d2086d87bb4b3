"""One request's journey through the pipeline: what came in, what the stages learned, what went out."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.gateway import Gateway
from sluicegate.providers.base import NO_FACTS, Provider, RequestFacts, Route
from sluicegate.types import CacheStatus
from sluicegate.usage.cost import CustomCost


@dataclass(slots=True)
class Reply:
    """What the pipeline answers: a complete `body`, or a `stream` of chunks relayed as they come."""

    status: int
    headers: CIMultiDict[str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass(slots=True)
class Exchange:
    """The request context handed from stage to stage.

    The endpoint fills the first group from HTTP; the stages fill the rest. Times are from
    `time.perf_counter()` except `received_at`, which is wall-clock epoch seconds.
    """

    gateway_slug: str
    provider_name: str
    route: Route
    method: str
    headers: CIMultiDictProxy[str]
    read_body: Callable[[], Awaitable[bytes]]
    id: str = field(default_factory=lambda: new_log_id())
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)

    body: bytes = b""
    gateway: Gateway | None = None
    provider: Provider | None = None
    facts: RequestFacts = NO_FACTS
    metadata: dict[str, Any] = field(default_factory=dict)
    custom_cost: CustomCost | None = None

    status: int = 0
    error: str | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    streamed: bool = False
    response_body: bytes = b""
    cache_status: CacheStatus = CacheStatus.NONE

    @property
    def account(self) -> str:
        return self.route.account


def new_log_id() -> str:
    """A time-ordered id (48-bit milliseconds, then 80 random bits, as hex) so ids sort by time.

    The random part only has to make ids unique, not unguessable (reading a log needs a token), so
    it comes from `random`, not from a system call per request.
    """
    return f"{time.time_ns() // 1_000_000:012x}{random.getrandbits(80):020x}"
