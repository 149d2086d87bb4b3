"""Requests aiohttp's HTTP parser refuses, answered the gateway's way.

aiohttp answers a request it cannot parse itself, before any route or middleware runs: a header
line over its limit, two `Content-Type` or `Host` headers, `Content-Length` beside
`Transfer-Encoding`, a byte the request target may not hold, a `Content-Encoding` it cannot decode.
Left alone it answers `HTTP/1.0 400` in plain text quoting the offending line, and logs an
`aiohttp.server` ERROR traceback quoting it again; that line may hold a credential (Gemini's
`?key=`, the start of an oversized `Authorization`). aiohttp has no public hook for this
(aio-libs/aiohttp#3287); `RequestHandler.handle_error` is where it happens, so the gateway's server
(`answer_refusals`) makes its connections with `RefusingHandler`, which answers

- 415 for a `Content-Encoding` it cannot decode, with the `Accept-Encoding` it can (RFC 9110 §15.5.16);
- 414 for a request target over `LINE_LIMIT` bytes;
- 431 for a header over `FIELD_LIMIT` bytes, or more than `MAX_HEADERS` of them;
- 400 otherwise, with a short reason of its own;

as the gateway's JSON error (errors.py), quoting nothing the client sent, and logs one line that
names the reason and the client's address, no values.

Such a request gets no record in the gateway's request log: a record belongs to an account's
gateway, and here both would come from a request line or headers the gateway could not read;
writing what they seem to name would let anyone add records to any gateway's log unauthenticated.

A request whose body the parser refuses partway (a bad chunk size or trailer that arrives after
the head, say once the gateway invited the body with `100 Continue`) is a handler's to answer.
aiohttp's C parser queues the error as a next request instead and leaves the body under way open:
the handler waited for the body timeout's 408, and each read of the body's buffered chunks made
the dead parser queue the error again, until at 32 aiohttp stopped reading the socket, so the
close after the answer (lingering, as for any body left unread) neither drained the body nor saw
the client hang up, and held the connection for `lingering_time` (10 s). `RefusingHandler` ends
that body with the parser's error instead, as the pure-Python parser does: the handler answers
400 (endpoints/body.py) at once, and the connection closes after it. A body that fails to decode
(its handler answered 400, or answered first without reading it, a 401 say) ends aiohttp's drain of
what is left of it once answered, which logged an "Unhandled exception" traceback per request,
unauthenticated: `RefusingHandler` logs a debug line instead, and the connection closes.

A request head that does not come is the other thing aiohttp leaves alone: it has no timeout for
the request line and headers, only its keep-alive timer (an hour under an `AppRunner`), so a
client that opens connections and sends nothing, or a header line now and then (slowloris), held
each for that long. `RefusingHandler` gives a head `header_timeout` seconds (`timeouts.header_timeout`)
from the connection's start, or on a kept-alive connection from the first byte of the next
request: a connection that sent part of a head by then is answered 408 and closed, one that sent
nothing is closed. Neither is logged (a line per connection would let anyone fill the log). Known
gap: a partial head pipelined behind a whole request in one read is not seen as begun (the parser
keeps it to itself), so that connection waits for the keep-alive timer instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
from itertools import islice
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    ContentEncodingError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.http_parser import SINGLETON_HEADERS
from aiohttp.web_protocol import _ErrInfo

from sluicegate.errors import (
    BadRequest,
    GatewayError,
    HeadersTooLarge,
    RequestTimeout,
    UnsupportedEncoding,
    UriTooLong,
)

# The parser's limits. aiohttp's LineTooLong gives the limit it met, not where: the two differ so
# that it tells a request target (414) from a header line (431).
LINE_LIMIT = 8192  # bytes of the request target (the C parser; the pure-Python one: the whole line)
FIELD_LIMIT = 8190  # bytes of a header's value (the C parser; the Python one: the line); aiohttp's
MAX_HEADERS = 128  # header lines (aiohttp's default)
PARSER_LIMITS: dict[str, Any] = {
    "max_line_size": LINE_LIMIT,
    "max_field_size": FIELD_LIMIT,
    "max_headers": MAX_HEADERS,
}
ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate", *(["br"] if HAS_BROTLI else []), *(["zstd"] if HAS_ZSTD else [])]
)
HEADER_TIMEOUT = 30.0  # seconds for a request line and its headers (`timeouts.header_timeout`)
# Seconds a kept-alive connection may idle between requests (`timeouts.keepalive_timeout`): the
# head clock starts only at a request's first byte, so without it one cheap request held a
# connection for aiohttp's default hour (a slowloris of idle connections).
KEEPALIVE_TIMEOUT = 75.0
_DUPLICATE = re.compile(r"Duplicate '([A-Za-z-]{1,40})' header")
_log = logging.getLogger(__name__)


def refusal(error: HttpProcessingError) -> GatewayError:
    """The gateway's answer to a request the parser refused with `error`. Its message is the
    gateway's own words: the parser's quotes the bytes it refused, credentials included."""
    message = error.message
    if isinstance(error, ContentEncodingError):
        return UnsupportedEncoding(
            f"the gateway cannot decode this request body's Content-Encoding; send it as {ACCEPT_ENCODING}"
            " or uncompressed",
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            header="content-encoding",
            accepted=ACCEPT_ENCODING.split(", "),
        )
    if isinstance(error, LineTooLong):
        if error.args[1:2] == (LINE_LIMIT,):
            return UriTooLong(f"the request target is longer than {LINE_LIMIT} bytes", limit=LINE_LIMIT)
        return HeadersTooLarge(f"a request header is longer than {FIELD_LIMIT} bytes", limit=FIELD_LIMIT)
    if message.startswith("Too many headers"):
        return HeadersTooLarge(f"the request has more than {MAX_HEADERS} header lines", limit=MAX_HEADERS)
    if (found := _DUPLICATE.match(message)) and found[1].lower() in SINGLETON_HEADERS:
        name = found[1].lower()
        return BadRequest(f"the request has more than one {name} header, which it may have once", header=name)
    return BadRequest(_reason(error))


def _reason(error: HttpProcessingError) -> str:
    message = error.message
    if "can't be present with" in message:  # either parser's words for Content-Length beside chunked
        return "the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.3): send one"
    if isinstance(error, TransferEncodingError) or "Transfer-Encoding" in message:
        return "the request's Transfer-Encoding cannot be read (the gateway reads chunked only)"
    if isinstance(error, InvalidURLError) or "in url" in message:
        return (
            "the request target is not a valid URL: bytes outside printable ASCII (an unencoded é, a"
            " space) must be percent-encoded (RFC 3986)"
        )
    if message.startswith("Missing 'Host'"):
        return "an HTTP/1.1 request must have a Host header"
    if isinstance(error, BadHttpMethod):
        return "the request line's method is not one HTTP allows"
    if isinstance(error, BadStatusLine):
        return "the request line is not `METHOD target HTTP/1.x`"
    if isinstance(error, InvalidHeader) or "header" in message.lower():
        return (
            "a request header is malformed (a name with a space or a character names may not hold,"
            " a control character in a value, a line without a colon)"
        )
    return "the request could not be read as HTTP/1.1"


def _unreadable_body(error: HttpProcessingError) -> web.RequestPayloadError:
    """What reading a body the parser refused partway raises: a `RequestPayloadError`, as aiohttp's
    for a body it cannot decode, caused by the parser's error in the gateway's words (the parser's
    own quotes the bytes it refused). A `Content-Encoding` the body is not in keeps its error."""
    cause = error if isinstance(error, ContentEncodingError) else BadHttpMessage(refusal(error).message)
    unreadable = web.RequestPayloadError(cause.message)
    unreadable.__cause__ = cause
    return unreadable


class RefusingHandler(web.RequestHandler):
    """aiohttp's connection handler, but for the answer to a request its parser refused, for the
    body of one it refused partway, and for a head that does not come in time."""

    __slots__ = ("_head_begun", "_head_clock", "_header_timeout", "_open_body")

    def __init__(self, *args: Any, header_timeout: float = HEADER_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open_body: StreamReader | None = None  # of the last request the parser passed on
        self._header_timeout = header_timeout
        self._head_clock: asyncio.TimerHandle | None = None  # runs while a head is awaited
        self._head_begun = False  # some of the awaited head has come

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes that come with no body open are a request head's (a WebSocket's frames are not).
        head = (
            (self._open_body is None or self._open_body.is_eof())
            and not self._upgraded
            and self._payload_parser is None
        )
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued:  # the parser passed on a request, or its error
            self._passed_on(queued)
            self._stop_head_clock()
        elif head and data and not (self._force_close or self._close):
            self._head_begun = True
            if self._head_clock is None:
                self._start_head_clock()

    def _start_head_clock(self) -> None:
        self._head_clock = self._loop.call_later(self._header_timeout, self._head_overdue)

    def _stop_head_clock(self) -> None:
        if self._head_clock is not None:
            self._head_clock.cancel()
            self._head_clock = None
        self._head_begun = False

    def _head_overdue(self) -> None:
        """The head did not come in time: 408 and close if part of it came, else close. A client
        that pipelined its next head while a request is still being answered gets another while."""
        self._head_clock = None
        if self._force_close or self._close or self.transport is None:
            return
        if self._messages or self._waiter is None or self._waiter.done():  # not waiting for a head
            self._start_head_clock()
            return
        if self._head_begun:
            error = RequestTimeout(
                f"the request line and headers did not arrive within {self._header_timeout:g} s",
                timeout_s=self._header_timeout,
            )
            body = error.body()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
        self.force_close()  # as aiohttp's keep-alive timer closes an idle connection: unlogged

    def _passed_on(self, queued: int) -> None:
        for message, body in islice(self._messages, queued, None):
            if not isinstance(message, _ErrInfo):
                self._open_body = body
                continue
            # The parser failed: nothing it reads will end the body under way, if one is.
            under_way, self._open_body = self._open_body, None
            if (
                under_way is not None
                and not under_way.is_eof()
                and under_way.exception() is None
                and isinstance(message.exc, HttpProcessingError)
            ):
                under_way.set_exception(_unreadable_body(message.exc))

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's log of what failed on a connection, but for a request body that cannot be read
        to its end (bytes not in the `Content-Encoding` it names, chunks broken partway): once a
        request is answered, aiohttp drains what its handler left of its body, and the body's error
        ends the drain, which it logged as an "Unhandled exception" traceback, for any client that
        cares to send one, before any authentication. The request was answered (a 400 or 415 when
        its handler read the body, endpoints/body.py); the connection closes (aiohttp closes it
        after this), with a debug line."""
        if isinstance(kw.get("exc_info"), web.RequestPayloadError) and not self._request_in_progress:
            _log.debug("closed a connection whose request body could not be read to its end")
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # the handler failed: aiohttp's own 500 / 504
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:  # as aiohttp: part of an answer went out, none can follow
            raise ConnectionError("the response is under way: no error answer can follow")
        error = refusal(exc)
        # Like aiohttp, a first request that is not HTTP (TLS on the plain port, a scanner) is debug.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.INFO
        _log.log(
            level,
            "refused a request from %s it could not read: %d %s",
            request.remote,
            error.status,
            error.message,
        )
        response = web.Response(
            status=error.status, body=error.body(), content_type="application/json", headers=error.headers
        )
        response.force_close()
        return response


class _Server(web.Server):
    header_timeout = HEADER_TIMEOUT

    def __call__(self) -> web.RequestHandler:
        return RefusingHandler(self, loop=self._loop, header_timeout=self.header_timeout, **self._kwargs)


def answer_refusals(
    app: web.Application, header_timeout: float = HEADER_TIMEOUT, keepalive_timeout: float = KEEPALIVE_TIMEOUT
) -> None:
    """Serve `app` with `RefusingHandler` connections, the parser limits above, `header_timeout` and
    `keepalive_timeout` (over a runner's own), whatever runner serves it (`run_app`, an
    `AppRunner`): each asks the app for its server (a private method, the one place both are
    chosen; aiohttp is pinned, and tests/integration/test_refusals.py and test_header_timeout.py
    hold it)."""
    make_server = app._make_handler

    def make_handler(**kwargs: Any) -> web.Server:
        server = make_server(**{**PARSER_LIMITS, **kwargs, "keepalive_timeout": keepalive_timeout})
        refusing = _Server(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
        refusing.header_timeout = header_timeout
        return refusing

    app._make_handler = make_handler  # type: ignore[method-assign]
