"""The outcome step: when a response completes, measure it once and hand the result to every sink.

The outcome is measured on the event loop when that is cheap, else on a worker thread. A request
that holds reservations (of token or cost rules, or of a dynamic route's limits) is settled before
its answer is complete — the JSON body is returned, or the stream's end marker sent, only after
`complete` — so the next request of its scope is judged on what this one really used. Nothing
waits for the measuring of other requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sluicegate.exchange import Exchange, IncomingRequest
from sluicegate.outcome import Outcome, Sink
from sluicegate.outcome.meter import Meter
from sluicegate.storage.counted_once import CountedOnce
from sluicegate.types import CacheStatus, Usage

_log = logging.getLogger(__name__)


class Outcomes:
    def __init__(self, meter: Meter, sinks: Sequence[Sink], counted: CountedOnce | None = None) -> None:
        """`counted`: the jobs whose usage was counted already (`Usage.job`); None counts every read."""
        self._meter = meter
        self._sinks = tuple(sinks)
        self._counted = counted
        self._pending: set[asyncio.Task[None]] = set()

    async def complete(self, exchange: Exchange) -> None:
        """The response of `exchange` is complete: measure it and hand it on. Returns once its
        reservations are settled; a cancelled caller stops neither the measuring nor the sinks."""
        outcome = self._quick(exchange)
        if outcome is not None:
            await self._hand_out(exchange, outcome)
        elif exchange.limits.holds or _route_held(exchange):
            await asyncio.shield(self._spawn(exchange))
        else:
            self._spawn(exchange)

    def complete_soon(self, exchange: Exchange) -> None:
        """As `complete`, for a caller that cannot wait (it is being cancelled, or closed)."""
        self._spawn(exchange)

    async def close(self) -> None:
        """Wait for the outcomes still being measured or handed out."""
        while self._pending:
            await asyncio.gather(*self._pending)

    @property
    def counted_shared(self) -> bool:
        """Whether a job's usage is counted once for every process of the gateway (its claims are
        in Redis), not only within this one."""
        return self._counted is not None and self._counted.shared

    async def counted_in(self, key: str) -> str | None:
        """The log id of the request whose read counted the usage of the job counted once under
        `key` (`job_key`, `Usage.job`); None when none has yet, or none can be told."""
        if self._counted is None:
            return None
        try:
            return await self._counted.claimed(key)
        except Exception as exc:  # Redis unreachable (CountedUnavailable): its claim will decide
            _log.warning("could not tell whether job %s was counted already: %s", key, exc)
            return None

    def _spawn(self, exchange: Exchange) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run(exchange))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    def _quick(self, exchange: Exchange) -> Outcome | None:
        try:
            return self._meter.quick(exchange)
        except Exception:  # measured again (and the failure logged) off the loop
            return None

    async def _run(self, exchange: Exchange) -> None:
        outcome = self._quick(exchange)
        if outcome is None:
            try:
                outcome = await asyncio.to_thread(self._meter.measure, exchange)
            except Exception:  # a reader's bug must not leave reservations held or the request unlogged
                _log.exception("measuring the outcome of request %s failed", exchange.request.id)
                outcome = Outcome()
        await self._hand_out(exchange, outcome)

    async def _hand_out(self, exchange: Exchange, outcome: Outcome) -> None:
        """Each sink in turn. A sink that does I/O shields it (the Redis limiter does), so a caller
        cancelled meanwhile still lets the remaining sinks run before the cancellation goes on."""
        cancelled: asyncio.CancelledError | None = None
        if self._counted is not None and _counts_a_job(exchange, outcome):
            # Before every sink, so budgets, route limits, the log and metrics see the same usage.
            claim = asyncio.ensure_future(self._once(exchange, outcome, self._counted))
            try:
                outcome = await asyncio.shield(claim)
            except asyncio.CancelledError as exc:
                cancelled = exc
                outcome = await claim
        for sink in self._sinks:
            try:
                await sink(exchange, outcome)
            except asyncio.CancelledError as exc:
                cancelled = exc
            except Exception:  # sinks are independent: one failing must not starve the others
                _log.exception("an outcome sink failed for request %s", exchange.request.id)
        if cancelled is not None:
            raise cancelled

    async def _once(self, exchange: Exchange, outcome: Outcome, counted: CountedOnce) -> Outcome:
        """`outcome`, or nothing used if its job was counted by an earlier request."""
        usage = outcome.usage
        assert usage is not None
        assert exchange.step is not None
        try:
            request = exchange.request
            by = await counted.claim(job_key(request, exchange.step.provider.name, usage.job), request.id)
        except Exception as exc:  # Redis unreachable (CountedUnavailable): counted again rather than lost
            _log.warning("could not tell whether job %s was counted already: %s", usage.job, exc)
            return outcome
        if by is None:
            return outcome
        return Outcome(Usage(job=usage.job), 0.0, model=outcome.model, counted_in=by)


def job_key(request: IncomingRequest, provider: str, job: str) -> str:
    """What a job's usage is counted once under: within one account's gateway, since a job read
    through another's (one provider key shared) must not take this one's spend, nor name that
    account's log record here."""
    return f"{request.account}/{request.gateway_slug}/{provider}/{job}"


def _counts_a_job(exchange: Exchange, outcome: Outcome) -> bool:
    """A billed answer reporting the usage of a job that later reads report again (`Usage.job`)."""
    usage = outcome.usage
    return (
        usage is not None
        and bool(usage.job)
        and exchange.step is not None
        and exchange.cache.status is not CacheStatus.HIT
        and not exchange.cache.semantic_hit
    )


def _route_held(exchange: Exchange) -> bool:
    """Whether the request's dynamic route still holds reservations of its own limit nodes."""
    held = exchange.plan.route_holds
    return held is not None and bool(held.holds)
