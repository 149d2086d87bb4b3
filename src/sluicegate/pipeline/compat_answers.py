"""A translated step's answer in OpenAI's chat shape (the compat endpoint, pipeline/compat.py): errors
and whole answers at once, streams as they arrive.

A stream whose client asked for usage (`stream_options.include_usage`) gets its usage chunk even
when the provider's events reported none (Workers AI's models without a usage event, a server that
leaves it out): the gateway's own count, as the log records it — the request's input and the text
the translation wrote, counted with tiktoken on a worker thread (usage/tokens.py), marked estimated
in the log (`Reply.reported_usage`) and never stored in a cache (cache_streams.py), whose hit counts
for itself. Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — the usage
chunk has the chunks' head fields, `choices: []` and `usage`, just before `data: [DONE]`.

An OpenAI-compatible server's stream for a client of another API (ingress/: Messages and Responses
always report usage) gets the same: the gateway asks it for its usage (`stream_options`, where it
takes them: `OpenAICompatible.chat_request`), and counts itself when the server sends none
(`chat_with_usage`), the stream otherwise as the server sent it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import replace
from typing import Any, Final

from multidict import CIMultiDict

from sluicegate.compat.base import StreamTranslator, Translator, broke_off, openai_usage
from sluicegate.compat.request_ids import OPENAI_REQUEST_ID, carry_request_id
from sluicegate.errors import GatewayError, UpstreamMalformed
from sluicegate.exchange import Reply
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.sse import error_event_at, iter_json, sse_data
from sluicegate.types import Usage
from sluicegate.usage.tokens import TokenCounter

# The gateway's count of a stream's usage, given the text it wrote (for a worker thread).
Estimate = Callable[[str], Usage]
_DONE = b"data: [DONE]\n\n"
_HEAD = ("id", "object", "created", "model", "system_fingerprint", "service_tier")
_CHAT = Route("", "chat/completions")  # where OpenAI's reader reads a chat stream's text
_DONE_LINE: Final = re.compile(rb"^data: ?\[DONE\][ \t]*\r?$", re.M)


def estimate(counter: TokenCounter, payload: Any, model: str | None) -> Estimate:
    """How the meter counts a stream the provider reported no usage for (outcome/meter.py): the
    native request's input (`payload`, as the step's facts hold it) and the text written, with
    `model`'s encoding."""

    def counted(text: str) -> Usage:
        return Usage(
            input_tokens=counter.count_any_input(payload, model),
            output_tokens=counter.count_text(text, model),
            estimated=True,
        )

    return counted


def translate_reply(
    translator: Translator,
    provider: str,
    model: str,
    include_usage: bool,
    estimated: Estimate | None,
    reply: Reply,
) -> Reply:
    """The provider's answer in OpenAI's shape: errors and bodies at once, streams as they arrive;
    its request id under OpenAI's header too (compat/request_ids.py). `estimated`: the gateway's
    count, for a stream whose client asked for usage the provider does not report.

    An answer the translator cannot read is the provider's fault, not the client's nor ours:
    `UpstreamMalformed` (502) naming the provider; in a stream, once the status is out, the
    connection is broken off (see endpoints/relay.py).
    """
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in reply.headers.items() if k.lower() not in ("content-type", "content-length")
    )
    carry_request_id(headers, OPENAI_REQUEST_ID)  # the openai SDK's `_request_id`, on errors too
    if reply.status >= 400:
        body = reply.body if reply.stream is None else b""
        headers["Content-Type"] = "application/json"
        if reply.stream is not None:
            stream = _error_stream(translator, provider, reply.status, reply.stream)
            return Reply(reply.status, headers, stream=stream)
        with malformed(provider):
            return Reply(reply.status, headers, body=translator.error(reply.status, body))
    if reply.stream is None:
        headers["Content-Type"] = "application/json"
        with malformed(provider):
            return Reply(reply.status, headers, body=translator.response(reply.body, model))
    headers["Content-Type"] = "text/event-stream; charset=utf-8"
    converter = translator.stream(model, include_usage)
    translated = TranslatedStream(converter, provider, estimated if include_usage else None)
    # The client may not have asked for usage (include_usage): the log still bills the provider's.
    return Reply(
        reply.status,
        headers,
        stream=translated.relay(reply.stream),
        reported_usage=translated.usage,
        unfinished=converter.unfinished,
    )


class TranslatedStream:
    """One translated stream: the converter's chunks as they come; with `estimated` (its client
    asked for usage), the text it writes is kept while the provider has reported no usage, and a
    stream that finished without any gets the gateway's count in its usage chunk."""

    def __init__(self, converter: StreamTranslator, provider: str, estimated: Estimate | None) -> None:
        self._converter = converter
        self._provider = provider
        self._estimated = estimated
        self._head: dict[str, Any] | None = None
        self._texts: list[str] = []
        self._failed = False  # an error event went out: no usage chunk follows it
        self._counted: Usage | None = None

    def usage(self) -> Usage | None:
        """What the provider reported, else the gateway's count the usage chunk carried."""
        return self._converter.usage() or self._counted

    async def relay(self, stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
        async with aclosing(stream):
            try:
                async for chunk in stream:
                    with malformed(self._provider):
                        out = self._converter.feed(chunk)
                    if out:
                        self._read(out)
                        yield out
            except GatewayError as error:
                # The upstream broke off (or went quiet past its timeout) after the status went
                # out: the stream ends in OpenAI's in-stream error, which the SDKs raise as the
                # API's error, not in a broken connection; no usage chunk or `[DONE]` follows.
                yield broke_off(error.message)
                return
        with malformed(self._provider):
            last = self._converter.close()
        yield await self._with_usage(last)

    def _read(self, out: bytes) -> None:
        if self._estimated is None or self._failed or self._converter.usage() is not None:
            return
        if error_event_at(out) >= 0:
            self._failed = True
            return
        if self._head is None:
            first = next(iter_json(out), None)
            if isinstance(first, dict):
                self._head = {name: first[name] for name in _HEAD if name in first}
        self._texts.append(OPENAI.output_text(_CHAT, out, streamed=True))

    async def _with_usage(self, last: bytes) -> bytes:
        """The converter's last bytes, with the gateway's usage chunk before their `[DONE]` when the
        client asked for usage and the provider reported none."""
        if self._estimated is None or not last.endswith(_DONE):
            return last
        events = last.removesuffix(_DONE)
        self._read(events)
        if self._failed or self._head is None or self._converter.usage() is not None:
            return last
        self._counted = await asyncio.to_thread(self._estimated, "".join(self._texts))
        chunk = sse_data({**self._head, "choices": [], "usage": openai_usage(self._counted)})
        return events + chunk + _DONE


def chat_with_usage(provider: str, estimated: Estimate, reply: Reply) -> Reply:
    """An OpenAI-compatible server's answer to a chat stream the gateway asked for a client of another
    API: a stream that finished without a usage chunk gets the gateway's count in one, as a
    translated stream does; anything else as it came."""
    if reply.status >= 400 or reply.stream is None:
        return reply
    relayed = TranslatedStream(ChatRelay(), provider, estimated)
    return replace(reply, stream=relayed.relay(reply.stream), reported_usage=relayed.usage)


class ChatRelay:
    """A chat stream as it came, as a `StreamTranslator` for `TranslatedStream`: whole lines pass at
    once, `data: [DONE]` waits for `close` (a usage chunk may go before it), what follows it is
    dropped. Unfinished it never says: the stream's reader tells a stream without `[DONE]`."""

    def __init__(self) -> None:
        self._pending = b""  # a line not yet whole
        self._done = False
        self._usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        data = self._pending + chunk
        end = data.rfind(b"\n") + 1
        lines, self._pending = data[:end], data[end:]
        if (done := _DONE_LINE.search(lines)) is not None:
            lines, self._pending, self._done = lines[: done.start()], b"", True
        if b'"usage"' in lines:
            self._usage = OPENAI.read_stream_usage(_CHAT, lines) or self._usage
        return lines

    def close(self) -> bytes:
        rest, self._pending = self._pending, b""
        if rest and not self._done:
            rest = self.feed(rest + b"\n")  # a last line without its line end (`[DONE]`'s too)
        return rest + _DONE if self._done else rest

    def unfinished(self) -> str | None:
        return None

    def usage(self) -> Usage | None:
        return self._usage


async def _error_stream(
    translator: Translator, provider: str, status: int, stream: AsyncGenerator[bytes, None]
) -> AsyncGenerator[bytes, None]:
    async with aclosing(stream):
        body = b"".join([chunk async for chunk in stream])
    with malformed(provider):
        translated = translator.error(status, body)
    yield translated


@contextmanager
def malformed(provider: str) -> Iterator[None]:
    """Translators raise TranslationError for the shapes they check, and KeyError, TypeError, ...
    where an answer breaks what they assume: either way the provider answered something unexpected."""
    try:
        yield
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UpstreamMalformed(
            f"{provider} answered in a shape the gateway cannot translate to OpenAI's: {exc}",
            provider=provider,
        ) from exc
