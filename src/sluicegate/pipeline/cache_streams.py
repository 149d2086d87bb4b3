"""What the caches keep of a stream they relay: a copy up to their entry limit (`StreamCopy`),
stored only when it holds a whole answer (`whole_answer`), with the usage its provider reported
when the client did not ask for it (`kept_stream`); and the usage a replay reports, read from its
closing events (`closing_usage`), or from the stored answer when the form it is served in holds
none (`stored_usage`).

A translated stream (the compat endpoint's chat stream of Gemini, Anthropic or Workers AI) carries
its usage chunk only when the client asked (`stream_options.include_usage`), but the translator
read the provider's usage either way (`Reply.reported_usage`). The stored copy gets that usage
chunk, so a later hit for a client that asks for usage (a chat stream with include_usage, a whole
answer, a Messages or Responses client, whose API always reports it) gets the provider's usage;
one that did not ask has it taken out again (providers/openai_stream.py), as OpenAI's own streams.
"""

from __future__ import annotations

from sluicegate.compat.base import openai_usage
from sluicegate.exchange import Exchange, Reply
from sluicegate.outcome.meter import usage_tail_document
from sluicegate.pipeline.hit_usage import with_stream_usage
from sluicegate.providers import STREAM_ENDS_CUT_SHORT
from sluicegate.providers.base import Provider, Route
from sluicegate.providers.openai_stream import WithoutUsageChunk
from sluicegate.providers.sse import error_event_at
from sluicegate.providers.stream_ends import StreamEnds
from sluicegate.storage.cache import CacheEntry
from sluicegate.types import Usage


def kept_stream(reply: Reply, body: bytes) -> bytes:
    """The whole stream `body` of `reply` as a cache stores it: a translated chat stream
    (`reply.reported_usage` is set only by the compat translation, below the caches) without a usage
    chunk gets the one its provider reported, when it reported any; one whose usage chunk holds the
    gateway's count (the provider reported none: pipeline/compat_answers.py) is kept without it, so a
    hit counts for itself (hit_usage.py), as it does for the stream of a client that did not ask."""
    usage = reply.reported_usage() if reply.reported_usage is not None else None
    if usage is None:
        return body
    if usage.estimated:
        without = WithoutUsageChunk()
        return without.feed(body) + without.close()
    return with_stream_usage(body, lambda _text: openai_usage(usage)) or body


def closing_usage(provider: Provider, route: Route, events: bytes) -> Usage | None:
    """The usage a stored stream reports in its last `_USAGE_TAIL` bytes, for a replay that says it
    before its first event (`Reply.usage_ahead`). Its one reader renders a chat stream (ingress),
    whose usage chunk is the last event before `[DONE]` and under 1 KB: read whole, on the event
    loop, a large stream without one had each of its events parsed (2 MB: ~25 ms)."""
    if len(events) > _USAGE_TAIL:
        tail = events[-_USAGE_TAIL:]
        line = tail.find(b"\n")  # from a whole line on: the first may be cut anywhere
        if line < 0:
            return None  # its last event alone is larger: no usage chunk
        events = tail[line + 1 :]
    return provider.read_stream_usage(route, events)


_USAGE_TAIL = 4096


def stored_usage(provider: Provider, route: Route, entry: CacheEntry) -> Usage | None:
    """The usage a stored answer holds, for a hit served in a form that may not (`Reply.reported_usage`):
    a chat stream stored with the usage chunk the gateway asked for (pipeline/stream_usage.py), served
    to a client that did not ask without it (providers/openai_stream.py), is logged with the
    provider's usage, as its miss was, not with the gateway's estimate. Read from the answer's end
    (a whole one's usage object follows its content), on the event loop when metered."""
    if entry.streamed:
        return closing_usage(provider, route, entry.body)
    return provider.read_usage(route, usage_tail_document(entry.body[-_USAGE_TAIL:]))


class StreamCopy:
    """A cache's copy of a stream it relays, given up once it outgrows `limit`
    (`limits.cache_entry_bytes`): the rest is relayed untouched, and a long stream does not grow
    the process."""

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] | None = []
        self._room = limit

    def add(self, chunk: bytes) -> None:
        if self._chunks is None:
            return
        self._room -= len(chunk)
        if self._room < 0:
            self._chunks = None
        else:
            self._chunks.append(chunk)

    def body(self) -> bytes | None:
        """The stream read to its end, if it was kept."""
        return None if self._chunks is None else b"".join(self._chunks)


def whole_answer(exchange: Exchange, body: bytes, read_to_end: bool) -> bool:
    """Whether the stream `body` holds a whole answer worth serving again. It is in the answering
    step's format (a translation's, if any: OpenAI chat's, which ends with `[DONE]`): the client
    API's own rendering (ingress) comes after."""
    step = exchange.step
    if step is None:
        return False
    if step.reader is not None:
        return complete_stream(body, step.reader.stream_ends, read_to_end)
    return complete_stream(body, step.provider.stream_ends, read_to_end, step.route)


def complete_stream(body: bytes, ends: StreamEnds, read_to_end: bool, route: Route | None = None) -> bool:
    """Whether a stream's events make a whole answer: no error event or cut-short end came, and
    - on a route whose streams end with a line (`StreamEnds.marks`; `route` None: any), that line;
    - on another, by its format's own rule where its provider has one (`StreamEnds.rule`:
      Gemini's finishReason), else by a line all the same, else (Replicate's) when read to its end.
    A provider may close the connection right after an error, or follow it with `[DONE]`; an error
    ends its stream, so the last events are where to look."""
    tail = _closing_part(body)
    near_end = body[-_ERROR_WINDOW:]
    near_end = near_end[near_end.find(b"\n") + 1 :] if len(body) > _ERROR_WINDOW else near_end
    if error_event_at(near_end) >= 0 or error_event_at(tail) >= 0:
        return False
    if any(marker in tail for marker in STREAM_ENDS_CUT_SHORT):
        return False
    if route is not None and (rule := ends.rule(route)) is not None:
        return rule.finished(body)
    if not ends.complete:
        return read_to_end
    return any(marker in tail for marker in ends.complete)


_ERROR_WINDOW = 4096  # the error event and what may follow it (a `[DONE]`, a closing event)


def _closing_part(events: bytes) -> bytes:
    """The last 400 bytes of `events`, or the whole last event if longer: the Responses API's end
    event carries the whole response, its marker often further back than 400 bytes."""
    trimmed = events.rstrip()
    last_event = max(trimmed.rfind(b"\n\n"), trimmed.rfind(b"\r\n\r\n"))
    return events[max(0, min(len(events) - 400, last_event)) :]
