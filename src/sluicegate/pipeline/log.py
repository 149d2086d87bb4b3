"""Log: the outermost stage and the single exit. Every request, errors included, is handed to the
outcome step once its response is complete (which then settles budgets, logs, counts, traces)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing

import orjson
from multidict import CIMultiDict

from sluicegate.compat.base import ended_early
from sluicegate.errors import GatewayError, GatewayStopping
from sluicegate.exchange import Exchange, IncomingRequest, Reply
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.pipeline import Handler
from sluicegate.pipeline.cache_labels import said_to_fastly
from sluicegate.pipeline.error_echoes import mask_echoed_secrets
from sluicegate.pipeline.jobs import RunningJobs
from sluicegate.pipeline.resolve import METADATA_DROPPED_HEADER, WARNING_HEADER, dropped_metadata_header
from sluicegate.pipeline.stream_usage import strips_usage
from sluicegate.providers import REGISTRY, STREAM_ENDS_COMPLETE, STREAM_ENDS_CUT_SHORT
from sluicegate.providers.base import Route
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.gemini.adapter import speaks_openai
from sluicegate.providers.openai_stream import WithoutUsageChunk
from sluicegate.providers.sse import error_event_at, error_event_data
from sluicegate.providers.stream_ends import EndRule
from sluicegate.shutdown import StopCut

LOG_ID_HEADER = "cf-aig-log-id"
CLIENT_GONE = "client disconnected before the response ended"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that hung up before the answer
# Lines that end a stream, as each provider declares them (`Provider.stream_ends`): a stream cut
# short is billed too. Streams of providers that declare none complete when their body ends.
END_MARKERS = (*STREAM_ENDS_COMPLETE, *STREAM_ENDS_CUT_SHORT)
_LINE_END_MARKERS = tuple(b"\n" + marker for marker in END_MARKERS)  # built once, not per chunk


def _hint(marker: bytes) -> bytes:
    """A marker up to the first `.`, `_` or `-` of its event's name: `event: response`, `event: message`."""
    field, colon, name = marker.partition(b": ")
    cut = min((at for at in (name.find(c) for c in b"._-") if at > 0), default=len(name))
    return field + colon + name[:cut]


# What the markers contain, fewer than them (the Responses API's share `event: response.`,
# Anthropic's and Cohere's `event: message`): a chunk without any ends nothing, and most chunks are
# told so in a few byte searches (0.6 µs, not 2).
_MARKER_HINTS = tuple(dict.fromkeys(_hint(m) for m in END_MARKERS))
ERROR_TEXT_LIMIT = 2000
# `IncomingRequest.kind` of a provider endpoint's request and of a host-in-path one (endpoints/proxy.py).
PROVIDER_KIND, HOST_KIND = "provider", "host"
_log = logging.getLogger(__name__)


class Log:
    def __init__(
        self,
        outcomes: Outcomes,
        tee_limit: int,
        jobs: RunningJobs | None = None,
        stop_cut: StopCut | None = None,
    ) -> None:
        """`jobs`: where an answer that leaves a job running goes once complete, to be read until
        the job has finished (pipeline/jobs.py); `stop_cut`: says when the server's stop cuts the
        answers still going, which are then not logged as left by their client."""
        self._outcomes = outcomes
        self._tee_limit = tee_limit
        self._jobs = jobs
        self._stop_cut = stop_cut or StopCut()

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        try:
            reply = await call_next(exchange)
        except asyncio.CancelledError:  # the client hung up, or the stop cut it: aiohttp cancels its handler
            if (cut := self._stop_cut.reason) is not None:  # no answer sent: the gateway's doing
                exchange.response.status, exchange.response.error = GatewayStopping.status, cut
            else:
                exchange.response.status, exchange.response.error = CLIENT_CLOSED_REQUEST, CLIENT_GONE
            exchange.timings.finished_at = time.perf_counter()
            self._outcomes.complete_soon(exchange)
            raise
        except GatewayError as error:
            exchange.response.error = error.message
            reply = error_reply(error, error_shape(exchange.request))
        except Exception as error:  # a bug: answer 500, keep the record, show the traceback
            _log.exception("unhandled error in request %s", exchange.request.id)
            exchange.response.error = f"internal error: {type(error).__name__}"
            reply = error_reply(GatewayError("internal gateway error"), error_shape(exchange.request))
        mask_echoed_secrets(exchange, reply)  # an error quoting a stored key: not the client's to read
        exchange.response.status = reply.status
        if exchange.collects_log:
            reply.headers[LOG_ID_HEADER] = exchange.request.id
        else:
            # No record will be stored, so the answer names none: an id here would 404 in the logs
            # and feedback APIs. Cloudflare's docs do not say what it sends in this case; an upstream's
            # own `cf-aig-log-id` (another gateway's) is dropped too, as it names no record here.
            reply.headers.popall(LOG_ID_HEADER, None)
        if dropped := exchange.options.metadata_dropped:  # every answer, refusals too
            reply.headers[METADATA_DROPPED_HEADER] = dropped_metadata_header(dropped)
        for warning in exchange.options.warnings:
            reply.headers.add(WARNING_HEADER, warning)
        said_to_fastly(reply, exchange.request, exchange.cache.status)  # every answer, as Fastly's
        if reply.stream is None:
            exchange.timings.finished_at = time.perf_counter()
            if exchange.timings.first_byte_at is None:
                exchange.timings.first_byte_at = exchange.timings.finished_at
            exchange.response.body = reply.body
            await self._outcomes.complete(exchange)
            if self._jobs is not None:
                self._jobs.watch(exchange)
        else:
            # A whole answer relayed as it came is still one answer: logged and metered as one.
            exchange.response.streamed = not reply.relayed_whole
            exchange.response.relayed_whole = reply.relayed_whole
            step = exchange.step
            strip = WithoutUsageChunk() if step is not None and strips_usage(step) else None
            sse = reply.headers.get("Content-Type", "").startswith("text/event-stream")
            rule = end_rule(exchange) if exchange.response.streamed else None
            recorded = self._recorded(exchange, reply.stream, strip, sse, rule)
            # Step inside its `try`: a generator closed before it ever ran skips its `finally`, and
            # a client gone before the first chunk must still be completed (reservations, record).
            await anext(recorded)
            reply.stream = recorded
        return reply

    async def _recorded(
        self,
        exchange: Exchange,
        stream: AsyncGenerator[bytes, None],
        strip: WithoutUsageChunk | None = None,
        sse: bool = False,
        rule: EndRule | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Relay `stream` untouched while keeping a copy (its last `tee_limit` bytes) for the outcome;
        with `strip`, less the usage chunk the gateway asked for and the client did not (the copy
        keeps it, for the meter: stream_usage.py).

        A stream completes at its end marker, before the client gets it: a client that has read the
        end may ask again at once, and must find its reservations settled and its log record in the
        spool (a kill after that loses neither). A stream without a marker completes at its end,
        before the response's terminating chunk; `sse`: an event stream, which ended early when its
        format has an end marker (`unmarked_end`); `rule`: its format's rule where it has none, handed
        the bytes the copy drops (`EndRule.skip`), then the copy (`broke_off`).
        """
        chunks: deque[bytes] = deque()
        kept = 0
        completed = ended = False
        gone: str | None = None  # why the stream was left unfinished: its client, or the stop
        tail = b""
        timings = exchange.timings
        try:
            async with aclosing(stream):
                yield b""  # taken by __call__, never relayed
                async for chunk in stream:
                    if timings.first_byte_at is None:
                        timings.first_byte_at = time.perf_counter()
                    chunks.append(chunk)
                    kept += len(chunk)
                    while kept > self._tee_limit and len(chunks) > 1:
                        dropped = chunks.popleft()
                        kept -= len(dropped)
                        if rule is not None:
                            rule.skip(dropped)
                    if not completed and ends_stream(tail + chunk):
                        completed = True
                        _finish(exchange, chunks)
                        await self._outcomes.complete(exchange)
                    tail = chunk[-32:]
                    if strip is None:
                        yield chunk
                    elif relayed := strip.feed(chunk):
                        yield relayed
                if strip is not None and (rest := strip.close()):
                    yield rest
            ended = True
        except GatewayError as error:
            exchange.response.error = error.message
            raise
        except (GeneratorExit, asyncio.CancelledError):
            gone = self._stop_cut.reason or CLIENT_GONE
            raise
        finally:
            if not completed:
                _finish(exchange, chunks, gone=gone, unmarked=ended and sse, rule=rule if ended else None)
                if ended:
                    await self._outcomes.complete(exchange)
                else:  # closed or cancelled: this generator may not wait any longer
                    self._outcomes.complete_soon(exchange)


def ends_stream(data: bytes) -> bool:
    """Whether `data` (a chunk and the end of the one before) holds a line that ends a stream."""
    for hint in _MARKER_HINTS:
        if hint in data:
            return data.startswith(END_MARKERS) or any(marker in data for marker in _LINE_END_MARKERS)
    return False


def _finish(
    exchange: Exchange,
    chunks: deque[bytes],
    *,
    gone: str | None = None,
    unmarked: bool = False,
    rule: EndRule | None = None,
) -> None:
    """The record of a stream that ended: at its end marker, or closed without one (`unmarked`: its
    body closed cleanly; `rule`: so did the body of a stream without one, whose rule it is), or left
    unfinished (`gone`: why, its client gone or the gateway's stop)."""
    response = exchange.response
    exchange.timings.finished_at = time.perf_counter()
    response.body = b"".join(chunks)
    # (An error status's body is its error; a whole answer has no events.)
    if response.error is None and response.status < 400 and response.streamed:
        # A client that hung up on the provider's error event (the SDKs raise at it, and may close
        # before the upstream does) ended on that error.
        response.error = stream_error(response.body)
        # One that hung up before the end left a stream that was still going: a translation's
        # upstream, closed by the gateway, never came to its closing event, which is no reason.
        if response.error is None and gone is None:
            response.error = (
                _unfinished(exchange)
                or (unmarked_end(exchange) if unmarked else None)
                or (broke_off(rule, response.body) if rule is not None else None)
            )
    if gone is not None and response.error is None:
        response.error = gone


def _unfinished(exchange: Exchange) -> str | None:
    """Why a rewritten stream's source ended before it finished (a translation's upstream that
    closed its body without its closing event): a stream cut short, billed for what it wrote."""
    return next((reason for read in exchange.response.unfinished if (reason := read()) is not None), None)


def unmarked_end(exchange: Exchange) -> str | None:
    """Why an event stream relayed as its provider sent it, whose body closed before any end marker,
    ended early: its route's streams end with one (`StreamEnds.marks`); None where they need not
    (Gemini's end with their body). A stream rewritten on its way is its rewriter's (`_unfinished`)."""
    step = exchange.step
    if step is None or step.reader is not None or exchange.plan.hub is not None:
        return None
    ends = step.provider.stream_ends
    if not ends.marks(step.route):
        return None
    # The marker of the format the stream is in: named events' (OpenAI's Responses events say
    # `event: response.`), or data alone's (`[DONE]`).
    body = exchange.response.body
    named = body.startswith(b"event:") or b"\nevent:" in body
    fits = (m for m in ends.complete if m.startswith(b"event:") == named and (not named or _hint(m) in body))
    marker = next(fits, ends.complete[0])
    return ended_early(marker.partition(b": ")[2].decode())


def end_rule(exchange: Exchange) -> EndRule | None:
    """The rule by which a stream relayed as its provider sent it shows it is whole, where its
    route's streams have no end line (`StreamEnds.rule`: Gemini's finishReason); None elsewhere."""
    step = exchange.step
    if step is None or step.reader is not None or exchange.plan.hub is not None:
        return None
    return step.provider.stream_ends.rule(step.route)


def broke_off(rule: EndRule, kept: bytes) -> str | None:
    """Why a stream without an end line, whose body closed, ended early: not whole by its format's
    `rule`, read to the end of what the log `kept` of it."""
    return None if rule.finished(kept) else ended_early(rule.awaited)


def stream_error(events: bytes) -> str | None:
    """The data of the first error event in `events` (a stream's kept tail; an error event ends its
    stream, so it is there), as upstream error bodies are recorded; None when there is none."""
    start = error_event_at(events)
    if start < 0:
        return None
    text = error_event_data(events, start)
    if text is None:  # the event line came, its data did not
        return "event: error"
    return text[:ERROR_TEXT_LIMIT].decode("utf-8", "replace")


# The gateway's own refusal that says to wait longer than this (a limit's window, a key cooling for
# an hour) tells the SDKs not to retry (`x-should-retry: false`, read first by the openai and
# anthropic SDKs): the JavaScript ones sleep whatever Retry-After says, so one call hung for twice
# the window; the Python ones give up past 120 s anyway. Shorter waits are the SDKs' to retry.
LONGEST_RETRY_WAIT_S = 60


def error_reply(error: GatewayError, shape: ErrorShape | None = None) -> Reply:
    """The gateway's own error as an answer: OpenAI's error shape, `param` and all, or the shape
    of the API the client speaks (`error_shape`). Status and headers are the same in every shape."""
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json", **error.headers})
    wait = headers.get("Retry-After", "")
    if wait.isdigit() and int(wait) > LONGEST_RETRY_WAIT_S:
        headers["x-should-retry"] = "false"
    if shape is None:
        body = error.body(param=True)
    else:
        # Google's shapes say the wait in the body too (RetryInfo); the others, in the header only.
        says_wait = shape.says_wait and wait.isdigit() and len(wait) < 16
        detail = {"retry_after": int(wait)} if says_wait else {}
        body = shape.error(error.status, _with_detail(error.body(param=shape.openai_errors), detail))
    return Reply(error.status, headers, body=body)


def _with_detail(body: bytes, detail: dict[str, int]) -> bytes:
    if not detail:
        return body
    document = orjson.loads(body)
    document["error"].update(detail)
    return orjson.dumps(document)


def error_shape(request: IncomingRequest) -> ErrorShape | None:
    """The shape of the API `request` speaks, for the gateway's own errors: the compat endpoint's
    client API (`ingress`); on a provider endpoint, or host-in-path to a provider's host, that
    provider's (Anthropic's, Google's), so its SDK reads a refusal of the gateway's as one of the
    provider's (Anthropic's `rate_limit_error`, Google's `RESOURCE_EXHAUSTED`); else OpenAI's (None).
    Read off the URL, not the plan, so errors before the plan (401, 404) have the same shape."""
    if request.ingress is not None:
        return request.ingress
    if _speaks_openai(request.route):  # a provider's OpenAI-compatible API: OpenAI's SDKs call it
        return None
    if request.kind == PROVIDER_KIND:
        provider = REGISTRY.get(request.provider_name)  # an account's custom provider: OpenAI's
        return provider.error_shape if provider is not None else None
    if request.kind == HOST_KIND:
        return _host_error_shape(request.upstream_host.lower(), request.route.path)
    return None


def _speaks_openai(route: Route) -> bool:
    """Anthropic's (`v1/chat/completions`) and Google's (`…/openai/…`, `…/endpoints/{id}/…`)
    OpenAI-compatible APIs, whose clients are OpenAI's SDKs."""
    return route.path.rstrip("/").endswith("chat/completions") or speaks_openai(route)


# The providers whose API words errors otherwise than OpenAI's, for a host-in-path request.
_SHAPED = tuple(provider for provider in REGISTRY.values() if provider.error_shape is not None)


def _host_error_shape(host: str, path: str) -> ErrorShape | None:
    for provider in _SHAPED:
        try:
            if provider.host_route(host, path, None) is not None:
                return provider.error_shape
        except GatewayError:  # a host_route may refuse a path (as Azure's does): OpenAI's shape then
            return None
    return None
