"""A graceful stop that cannot hang: each part gets a bounded time to close, then the stop goes on.

Nothing is lost by going on: log records wait in the on-disk spool and are stored at the next
start, counters were copied within their flush interval, cache entries are disposable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from aiohttp import web

_log = logging.getLogger(__name__)
STEP_SECONDS = 10.0


class StopCut:
    """Said by the server when the stop's grace has run out and it closes the connections still
    answering (server.py), before it closes them: what is cut then was cut by the gateway, not left
    by its client, and its log record says so (pipeline/log.py)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def cutting(self, grace: float) -> None:
        self.reason = f"cut at the gateway's stop, after its grace of {grace:g} s (timeouts.stop_grace)"


STOP_CUT = web.AppKey("sluicegate_stop_cut", StopCut)


async def close_within(name: str, closing: Awaitable[None], seconds: float = STEP_SECONDS) -> bool:
    """Await `closing` for at most `seconds`; False (and an error in the log naming `name`) when it
    did not finish, so one stuck part never keeps the process from exiting."""
    try:
        await asyncio.wait_for(closing, seconds)
    except TimeoutError:
        _log.error("stopping: %s did not close within %g s; going on without it", name, seconds)
        return False
    return True
