"""Forwarding one step upstream, once. Retries and fallbacks are `retry.py`'s business."""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass

from multidict import CIMultiDict

from sluicegate.custom_providers import AccountProvider
from sluicegate.errors import UpstreamTimeout
from sluicegate.exchange import Reply, Step
from sluicegate.pipeline.error_echoes import mask_answer_headers
from sluicegate.pipeline.stream_usage import upstream_body
from sluicegate.pipeline.unsent_fields import without_unsent
from sluicegate.providers.base import Provider
from sluicegate.providers.stream_errors import NOT_AN_ERROR, UNDECIDED, Opening
from sluicegate.upstream import Transport, UpstreamRequest, UpstreamResponse
from sluicegate.upstream_headers import relayable_response_headers

# Bodies up to this size, by their Content-Length, are read whole at once. Larger ones, or of unknown
# length, are relayed chunk by chunk, except a JSON answer to a request that asked for no stream:
# that is gathered whole up to this size, or up to what a cache may store of it (`whole_limit`).
_BUFFER_LIMIT = 1024 * 1024
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl")
_REFUSALS = frozenset({429, 503})  # answers that may say how long to wait
# The most of an SSE stream read ahead to see whether its first event is an error: past keep-alive
# comments and pings, an error event is far smaller. A stream still undecided past it is relayed.
_OPENING_LIMIT = 64 * 1024
# How long after a stream's first bytes the read-ahead waits for its first event at most: keep-alive
# comments (OpenRouter's while a request is queued) can go on for minutes, and a client, a proxy or
# a load balancer that gets no bytes meanwhile cuts the request on its idle timeout. Past it the
# stream is relayed as it is, keep-alives first.
_OPENING_WAIT = 1.0
# When the start budget is only what is left of the request's deadline, and within 1% of the
# exchange timeout, the transport's own bound on the answer's start enforces it: a second timer per
# request is measurable CPU. A per-attempt timeout always gets its timer, so fallbacks still run.
_TIMER_SLACK = 0.99


class Forwarder:
    """Sends a step to its provider. `exchange_timeout` bounds each wait on the upstream: for the
    answer to start, then for each next chunk of a stream (upstream_idle.py)."""

    def __init__(self, transport: Transport, base_urls: Mapping[str, str], exchange_timeout: float) -> None:
        self._transport = transport
        self._base_urls = base_urls
        self._exchange_timeout = exchange_timeout

    async def send(self, step: Step, method: str, start_timeout: float, deadline_only: bool = False) -> Reply:
        """The upstream's answer, once it has started: headers and, for a stream, its first chunk.

        Raises `UpstreamTimeout` when the answer has not started within `start_timeout` seconds,
        and the other `errors.py` upstream errors when no answer came at all. A stream that has
        sent its first chunk is the client's from then on; what fails after it is not retried.
        """
        provider = step.provider
        request = UpstreamRequest(
            method=method,
            url=provider.upstream_url(
                step.base_url or self._base_urls.get(provider.name, provider.default_base_url), step.route
            ),
            headers=step.headers,
            # (a chat stream asks for its usage: stream_usage.py; fields it refuses are left out)
            body=without_unsent(step, upstream_body(step)),
            timeout=self._exchange_timeout,
            # An account's custom provider: a host the account chose, whose addresses are checked.
            account_host=isinstance(provider, AccountProvider),
        )
        # An answer to a request that asked for no stream is one whole answer, however it is sent.
        whole = None if step.facts.stream else whole_limit(step)
        loop = asyncio.get_running_loop()
        started = loop.time()
        if deadline_only and start_timeout >= self._exchange_timeout * _TIMER_SLACK:
            reply = await self._start(request, whole)  # the client's own timeout covers it: no second timer
        else:
            try:
                async with asyncio.timeout(start_timeout):
                    reply = await self._start(request, whole)
            except TimeoutError as exc:
                raise UpstreamTimeout(
                    f"the upstream did not start answering within {start_timeout:g} s"
                ) from exc
        if isinstance(reply, _Undecided):  # (the start timer is off: the read-ahead keeps within it)
            reply = await _opened(reply, min(loop.time() + _OPENING_WAIT, started + start_timeout))
        if reply.status in _REFUSALS and reply.stream is None:
            _say_when_to_retry(provider, reply)
        mask_answer_headers(step, reply)  # a header quoting a stored key, success or not
        if step.answer is None:
            return reply
        answered = step.answer(reply)
        answered.failure = reply.failure  # (a translation of the stream fails as it does)
        answered.failure_event = reply.failure_event
        return answered

    async def _start(self, request: UpstreamRequest, whole: int | None) -> Reply | _Undecided:
        """`whole`: the most of a JSON answer read whole (None: the request asked for a stream). An
        SSE stream whose first chunk leaves its opening undecided is `_Undecided`: `send` reads on."""
        response = await self._transport.send(request)
        headers = relayable_response_headers(response.headers)
        if not _streams(response):
            return Reply(response.status, headers, body=await response.read_body(request.timeout))
        chunks = response.relay(request.timeout)
        try:
            first = await anext(chunks)  # primed: the first chunk, once it is in (not taken yet)
            if whole is not None and _is_json(response.content_type):
                length = response.content_length  # (compressed, it is less than what it decodes to)
                if length is not None and length > whole:
                    return Reply(response.status, headers, stream=chunks, relayed_whole=True)
                return await _gathered(response.status, headers, chunks, whole)
            # A look at the first chunk (most streams: its first line settles it); the chunks after
            # the opening pass untouched.
            if response.status < 300 and response.content_type == "text/event-stream":
                scan = Opening()
                verdict = scan.feed(first)
                if verdict != NOT_AN_ERROR:
                    return _Undecided(response.status, headers, chunks, scan, verdict)
        except BaseException:
            await chunks.aclose()
            raise
        return Reply(response.status, headers, stream=chunks)


def whole_limit(step: Step) -> int:
    """The most of a JSON answer asked for whole that is read whole: 1 MiB, or what a cache of the
    gateway may store of it when one would (`Step.storable_bytes`: the exact or semantic cache is on
    for the request), so that it stores a large answer (an SDK's base64 embeddings of 200 inputs:
    1.6 MB). Past it the answer is relayed: the log keeps its end and the meter reads the usage
    there, so nothing else needs it whole."""
    return max(_BUFFER_LIMIT, step.storable_bytes)


def _say_when_to_retry(provider: Provider, reply: Reply) -> None:
    """A refusal whose wait is in its body (Google's RetryInfo) gets it as `Retry-After` too: the
    SDKs (through a translation) and the key pools read the header."""
    if "retry-after" in reply.headers or "retry-after-ms" in reply.headers:
        return
    delay = provider.retry_delay(reply.body)
    if delay is not None:
        reply.headers["Retry-After"] = str(math.ceil(delay))


def _streams(response: UpstreamResponse) -> bool:
    if response.content_type in _STREAM_TYPES:
        return True
    length = response.content_length
    return length is None or length > _BUFFER_LIMIT


def _is_json(content_type: str) -> bool:
    # Audio and files of unknown length stay streams: a speech answer is played as it comes. (JSON
    # can be a stream too, Gemini's array without alt=sse, Cohere's stream+json: asked for as one.)
    return content_type == "application/json" or content_type.endswith("+json")


async def _gathered(
    status: int, headers: CIMultiDict[str], chunks: AsyncGenerator[bytes, None], limit: int
) -> Reply:
    """A JSON answer asked for whole, of unknown length (a compressed answer from behind a CDN comes
    chunked) or over `_BUFFER_LIMIT` (an SDK's base64 embeddings of 200 inputs: 1.6 MB), read whole
    up to `limit` decoded bytes, so the caches, the meter and the guardrails take it as the answer
    it is; past the limit, relayed as it comes (the part read first, then the rest), still one
    answer (`relayed_whole`). Gathered in a BytesIO, whose getvalue() hands over its own buffer:
    the answer is held once (a list of chunks joined at the end held it twice at the peak)."""
    gathered = io.BytesIO()
    while gathered.tell() <= limit:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return Reply(status, headers, body=gathered.getvalue())
        gathered.write(chunk)
    return Reply(status, headers, stream=_resumed([gathered.getvalue()], chunks), relayed_whole=True)


@dataclass(slots=True)
class _Undecided:
    """An SSE stream whose first chunk (fed to `scan`) did not show an answer: its `verdict` is an
    error whole in that chunk, or `UNDECIDED`."""

    status: int
    headers: CIMultiDict[str]
    chunks: AsyncGenerator[bytes, None]
    scan: Opening
    verdict: int


async def _opened(opening: _Undecided, until: float) -> Reply:
    """Read ahead, past keep-alive comments and pings and over split writes, until the stream's first
    event is whole (`_OPENING_LIMIT` at most), not to the stream's end (an upstream may hold the
    connection open after an error), and until `until` at most (loop time): past it the stream is
    relayed as it is, so its client gets bytes. When that event is the provider's error (Anthropic's
    overloaded_error), `failure` is the status it stands for (529), which retries and fallbacks act
    on; a client that gets it after all gets it as sent, a 200 whose SDK raises the provider's
    error. A read is a task only here, so that the wait for it can end without ending it."""
    chunks, scan, verdict = opening.chunks, opening.scan, opening.verdict
    loop = asyncio.get_running_loop()
    pieces: list[bytes] = []
    read: asyncio.Future[bytes | None] | None = None
    try:
        chunk = await anext(chunks, None)  # the primed first chunk again, in already (None: no body)
        while chunk is not None:
            pieces.append(chunk)
            if verdict != UNDECIDED:
                break
            read = asyncio.ensure_future(anext(chunks, None))
            await asyncio.wait((read,), timeout=max(0.0, until - loop.time()))
            if not read.done():
                return Reply(opening.status, opening.headers, stream=_resumed(pieces, chunks, read))
            chunk, read = read.result(), None
            if chunk is not None:
                verdict = scan.feed(chunk) if scan.size + len(chunk) <= _OPENING_LIMIT else NOT_AN_ERROR
        else:
            verdict = scan.at_end()
    except BaseException:
        if read is not None:
            await _dropped(read)
        await chunks.aclose()
        raise
    failure = verdict or None
    event = b"".join(pieces) if failure else b""
    return Reply(
        opening.status, opening.headers, stream=_resumed(pieces, chunks), failure=failure, failure_event=event
    )


async def _dropped(read: asyncio.Future[bytes | None]) -> None:
    """Ends a read no one will take (cancelled, the stream closes its connection), and takes its
    outcome, so that an error it ended with is not reported as never retrieved."""
    if not read.done():
        read.cancel()
        await asyncio.wait((read,))
    if not read.cancelled():
        read.exception()


async def _resumed(
    read: list[bytes], rest: AsyncGenerator[bytes, None], pending: asyncio.Future[bytes | None] | None = None
) -> AsyncGenerator[bytes, None]:
    """The chunks `read`, then the one `pending` (a read of `rest` under way; None: `rest` ended),
    then the rest."""
    async with aclosing(rest):
        try:
            for chunk in read:
                yield chunk
            if pending is not None:
                taken = await pending
                if taken is None:
                    return
                yield taken
        finally:
            if pending is not None:
                await _dropped(pending)  # (when closed before it was taken)
        async for chunk in rest:
            yield chunk
