"""Jobs an answer left running, read by the gateway until they finish, so that their usage is
counted even when no client reads them again.

A Replicate prediction created without `Prefer: wait` (or whose wait ran out) answers `starting`;
its tokens are reported only by a later read of it, finished (`Usage.job`). The official client's
`stream()` never makes that read (it reads the output stream from Replicate directly), nor does a
client that takes a webhook or gives up waiting. So once the Log stage has completed the answer to
a create (a `POST`) that describes a job still running whose finished read reports usage
(`Provider.running_job`: a language model's prediction, one that streams its output; not an image
model's, which reports no tokens, nor a training), it hands it here (`watch`), and a task of this
process reads the job, after the response and off the request path. A client's read of a job
still running (a poll) starts no reading: the create's answer started it, where it was relayed.

- through the forward stage, at the base URL the answer's request went to, with the credential
  headers it went with (held in memory, in the task, until it ends: never stored or logged); of
  the answer's exchange it keeps only what the reads are made of (`_Job`), not its request, whose
  body (a create's input may hold data: URIs of megabytes) goes with the response;
- 1 s after the answer, then twice as long after each read, 30 s apart at most (`Pace`), at most
  100 reads over 40 minutes: Replicate stops a prediction that has run for 30 minutes
  (https://replicate.com/docs/topics/predictions/lifecycle#timeouts), and 10 more cover one that
  waited to start (a cold boot); past them, the job is left to its clients' reads (a warning says so);
- at most 500 jobs at once per process: read every 30 s, that is 1,000 reads a minute, a third of
  the 3,000 Replicate allows a key for reads (https://replicate.com/docs/topics/predictions/rate-limits);
  past it a job is not watched (a warning says so, once until there is room again).

Jobs are read only where a read that counts a job counts it for every process a client's read of
it may reach: a process alone (`processes` 1), or processes that share their counted-once claims
(in Redis: `Outcomes.counted_shared`). The workers of `serve --workers N` without Redis each keep
their own: a client's poll that reached another worker and found the job finished counted it
there, unknown here, and this worker's read would count it again. So there none is read
(`processes` > 1: the server warns of it at start) and a job is counted by its clients' reads only.
Replicas without Redis cannot be told from a process alone; replicas are to share Redis.

Before each read the task asks whether a read of the job counted its usage already (a client
polled it finished: `Outcomes.counted_in`), and stops if one has, reading nothing more. So a client
that polls is read beside, on the same key: its polls that find the job still running spare none
of the gateway's reads (about 5 in the first 30 s), only those due after a poll has counted it.
A read that finds the job finished, with usage counted once (`Usage.job`), is completed as a
client's read of it would be (`Outcomes.complete`: the counted-once claim, so a client's read
racing it counts it once too; budget settlement, in reservations of nothing made for it, route
limits, the log, metrics, traces), as a `GET` of the job's route by the answer's gateway, token,
`cf-aig-*` options and model (which `model`-scoped rules count it under); its record says
`usage_read_by: gateway`, and `usage_read_for` names the answer's record. A finished job that
reports no such usage (a prediction that failed before it ran) is not recorded: it has nothing to
count. An answer of the upstream other than 429 or 5xx (401, 404: the job is gone or the key was
revoked) stops the reading. No answer at all is read again later, as is an answer larger than the
gateway reads whole (a job whose input or output is that large), which tells neither whether the
job has finished nor its usage.

`close` ends every task at once, at shutdown: a job still running then is counted only if a client
reads it, since its credentials are not kept anywhere a restart could find them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.credentials import is_credential_header
from sluicegate.errors import GatewayError
from sluicegate.exchange import ClientOptions, Exchange, IncomingRequest, RequestPlan, Step
from sluicegate.exchange_records import Attempt, ResponseRecord, Timings
from sluicegate.gateway import Gateway
from sluicegate.outcome.outcomes import Outcomes, job_key
from sluicegate.pipeline.forward import Forwarder
from sluicegate.providers.base import RunningJob
from sluicegate.storage.limiter import Hold
from sluicegate.tokens import Token
from sluicegate.types import CacheStatus

_log = logging.getLogger(__name__)
# The metadata of the record of a job's read by the gateway: who read it, and for which answer.
READ_BY, READ_FOR = "usage_read_by", "usage_read_for"
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

# Holds of nothing in the budgets of a read's exchange: its settlement counts the usage in
# (`RateLimit.reserve_nothing`).
Reserve = Callable[[Exchange], tuple[Hold, ...]]


@dataclass(frozen=True, slots=True)
class Pace:
    """How jobs are read (see the module docstring): `first_s` after the answer, then twice as long
    after each read, `most_apart_s` at most; at most `reads` reads within `within_s`; at most
    `watched` jobs at once; each read's answer awaited `read_timeout_s` at most."""

    first_s: float = 1.0
    most_apart_s: float = 30.0
    reads: int = 100
    within_s: float = 40 * 60.0
    watched: int = 500
    read_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class _Job:
    """What each read of one job is made of, and no more of the exchange whose answer left it
    running: its id and counted-once key, that answer's gateway, log id, token and options, and the
    step that reads the job (its credentials and the answer's model)."""

    name: str  # its id (`RunningJob.job`)
    key: str  # what its usage is counted once under (`job_key`)
    gateway_slug: str
    answered_id: str  # the log id of the answer that left it running
    gateway: Gateway
    token: Token | None
    options: ClientOptions
    step: Step


async def _no_body() -> bytes:
    return b""


class RunningJobs:
    def __init__(
        self,
        forwarder: Forwarder,
        outcomes: Outcomes,
        reserve: Reserve,
        pace: Pace = Pace(),
        processes: int = 1,
    ) -> None:
        """`processes`: how many processes serve the gateway here (`serve --workers N`); more than
        one without shared counted-once claims, no job is read (see the module docstring)."""
        self._forwarder = forwarder
        self._outcomes = outcomes
        self._reserve = reserve
        self._pace = pace
        self._reads = processes == 1 or outcomes.counted_shared
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._full = False  # jobs were left unwatched since there was last room: warned once
        self._closed = False

    @property
    def watching(self) -> int:
        """How many jobs are being read now."""
        return len(self._tasks)

    def watch(self, exchange: Exchange) -> None:
        """Read the job that `exchange`'s completed answer to a create describes as still running,
        if it does, until it has finished; returns at once."""
        step, response, gateway = exchange.step, exchange.response, exchange.gateway
        if (
            step is None
            or gateway is None
            or not self._reads
            or self._closed
            or exchange.request.method != "POST"  # a read of the job (a poll): its client reads it
            or response.streamed
            or response.relayed_whole
            or not 200 <= response.status < 300
            or exchange.cache.status is CacheStatus.HIT
            or exchange.cache.semantic_hit
        ):
            return
        running = step.provider.running_job(step.route, response.body)
        if running is None:
            return
        key = job_key(exchange.request, step.provider.name, running.job)
        if key in self._tasks:  # a job already watched (a create answered twice)
            return
        if len(self._tasks) >= self._pace.watched:
            if not self._full:
                _log.warning(
                    "%d jobs are being read already: job %s (request %s) is counted only if a client"
                    " reads it finished",
                    len(self._tasks),
                    running.job,
                    exchange.request.id,
                )
            self._full = True
            return
        self._full = False
        request = exchange.request
        job = _Job(
            running.job,
            key,
            request.gateway_slug,
            request.id,
            gateway,
            exchange.token,
            exchange.options,
            _reading(step, running),
        )
        task = asyncio.get_running_loop().create_task(self._follow(job))
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def close(self) -> None:
        """Stop reading, at once: a read whose outcome is being handed out goes on in `Outcomes`."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, job: _Job) -> None:
        try:
            unread = await self._read_until_finished(job)
            if unread is not None:
                _log.warning(
                    "job %s (request %s) %s after %d reads or %g s: its usage is counted only if a"
                    " client reads it finished",
                    job.name,
                    job.answered_id,
                    unread,
                    self._pace.reads,
                    self._pace.within_s,
                )
        except Exception:  # a bug must not go unseen, nor end any other job's reading
            _log.exception("reading job %s (request %s) failed", job.name, job.answered_id)

    async def _read_until_finished(self, job: _Job) -> str | None:
        """Read until the job has finished (and hand it out), or a read counted it, or the upstream
        refused the read: None; else, when the reads or the time ran out, what the last read found."""
        pace, loop = self._pace, asyncio.get_running_loop()
        until = loop.time() + pace.within_s
        delay = pace.first_s
        found = "was still running"
        for _ in range(pace.reads):
            if loop.time() + delay > until:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, pace.most_apart_s)
            if await self._counted_already(job):
                return None
            try:
                read = await self._read(job)
            except GatewayError as exc:  # no answer (unreachable, timed out): read again later
                _log.debug("reading job %s failed: %s", job.name, exc)
                continue
            status = read.response.status
            if 200 <= status < 300:
                if read.response.relayed_whole:  # only its start came: nothing tells, read again
                    found = "answered larger than the gateway reads whole"
                    continue
                found = "was still running"
                if job.step.provider.running_job(job.step.route, read.response.body) is None:
                    await self._finished(read)
                    return None
            elif status != 429 and status < 500:
                _log.warning(
                    "stopped reading job %s (request %s): the upstream answered %d",
                    job.name,
                    job.answered_id,
                    status,
                )
                return None
        return found

    async def _counted_already(self, job: _Job) -> bool:
        return await self._outcomes.counted_in(job.key) is not None

    async def _read(self, job: _Job) -> Exchange:
        """One read of the job, as an exchange of the answer's gateway, token and options; an answer
        larger than the gateway reads whole is closed unread (`relayed_whole`, no body)."""
        step = job.step
        request = IncomingRequest(
            gateway_slug=job.gateway_slug,
            provider_name=step.provider.name,
            route=step.route,
            method="GET",
            headers=_NO_HEADERS,
            read_body=_no_body,
        )
        options = job.options
        metadata = {**options.metadata, READ_BY: "gateway", READ_FOR: job.answered_id}
        exchange = Exchange(
            request,
            gateway=job.gateway,
            options=ClientOptions(
                metadata=metadata,
                custom_cost=options.custom_cost,
                collect_log=options.collect_log,
                collect_payload=options.collect_payload,
            ),
            token=job.token,
            plan=RequestPlan(steps=[step]),
        )
        reply = await self._forwarder.send(step, "GET", self._pace.read_timeout_s)
        body = reply.body
        if reply.stream is not None:  # far larger than a job's description: nothing to read in it
            await reply.stream.aclose()
        finished = time.perf_counter()
        latency_ms = (finished - request.started) * 1000
        exchange.response = ResponseRecord(
            status=reply.status,
            body=body,
            relayed_whole=reply.stream is not None,
            attempts=[Attempt(0, step.provider.name, reply.status, latency_ms, key=step.key_name)],
            upstream_status=reply.status,
        )
        exchange.timings = Timings(first_byte_at=finished, finished_at=finished)
        return exchange

    async def _finished(self, read: Exchange) -> None:
        """Count a finished job's usage, as a client's read of it would be counted."""
        step = read.step
        assert step is not None
        usage = step.provider.read_usage(step.route, read.response.body)
        if usage is None or not usage.job:
            return  # nothing that only one read counts (a model that counts no tokens): no record
        read.limits.holds = self._reserve(read)
        await self._outcomes.complete(read)


def _reading(answered: Step, running: RunningJob) -> Step:
    """The step that reads `running`: where the answered step went, with its credentials only,
    and its model (for `model`-scoped rules; the read's own route names none)."""
    provider = answered.provider
    headers = CIMultiDict(
        (name, value) for name, value in answered.headers.items() if is_credential_header(name, value)
    )
    facts = provider.read_request(running.route, b"")
    if answered.facts.model is not None:
        facts = replace(facts, model=answered.facts.model)
    return Step(
        provider,
        running.route,
        headers,
        b"",
        facts,
        base_url=answered.base_url,
        key_name=answered.key_name,
        stored_headers=answered.stored_headers,
        options=answered.options,
    )
