"""Fuzzing below the HTTP client: malformed request lines and headers, broken framing, bytes that
are not UTF-8, truncated bodies and hang-ups, sent over raw sockets to every surface.

`test_fuzz.py` varies what a well-behaved client can send (JSON, header text, parameters); this
module varies the wire itself. For every case: no 5xx, no unhandled error in the gateway's log,
an answer from the gateway's own code is a JSON error, the gateway answers a normal request
afterwards, and once every connection is closed it holds no more descriptors than before.
"""

from __future__ import annotations

import gzip
import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sluicegate.pipeline.log import CLIENT_GONE
from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import (
    RawResponse,
    Transcript,
    connections_on,
    converse,
    first_response,
    open_fds,
    wait_until,
)
from tests.integration.test_fuzz import GATEWAY_HEADERS, PROVIDER_KEY

MASTER_KEY = "master-key-for-http-fuzzing"
MAX_BODY = 64 * 1024  # small, so bodies and decompression bombs past it stay cheap
# A body that stops coming holds its handler until the body timeout's 408, kept short here.
BODY_TIMEOUT = 0.5
FUZZ = settings(max_examples=100, deadline=None, report_multiple_bugs=False)
CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
ADMIN = f"Authorization: Bearer {ADMIN_TOKEN}".encode()


@dataclass(frozen=True, slots=True)
class Surface:
    method: bytes
    target: bytes
    body: bytes = b""
    credential: bytes = b""  # the header line a surface needs to be let in (the admin token)

    @property
    def proxy(self) -> bool:
        return not self.credential


SURFACES = {
    "provider": Surface(b"POST", b"/v1/local/default/openai/chat/completions", CHAT),
    "universal": Surface(
        b"POST",
        b"/v1/local/default",
        b'[{"provider":"openai","endpoint":"chat/completions","headers":{},"query":' + CHAT + b"}]",
    ),
    "compat": Surface(
        b"POST", b"/v1/local/default/compat/chat/completions", CHAT.replace(b"gpt-4o", b"openai/gpt-4o")
    ),
    "host-in-path": Surface(b"POST", b"/api.openai.com/v1/chat/completions", CHAT),
    "host-compat": Surface(b"POST", b"/compat/openai/api.groq.com/v1/chat/completions", CHAT),
    "admin-read": Surface(b"GET", b"/api/v1/accounts/local/gateways/default/logs?limit=2", credential=ADMIN),
    "admin-write": Surface(
        b"PATCH", b"/api/v1/accounts/local/gateways/default", b'{"settings":{"cache_ttl":600}}', ADMIN
    ),
    "purge-all": Surface(
        b"POST", b"/ai_accelerator/expire", credential=f"Fastly-Key: {ADMIN_TOKEN}".encode()
    ),
    "metrics": Surface(b"GET", b"/metrics", credential=ADMIN),
}


@dataclass(frozen=True, slots=True)
class Case:
    what: str  # shown when a case fails
    parts: tuple[bytes, ...]  # sent in order; a later part only after the server's 100 Continue
    hang_up: bool = False  # the request is incomplete on purpose: close instead of waiting
    reset: bool = False  # close with a RST
    leave_at: bytes = b""  # hang up once the answer holds this (mid-answer)


def head(
    surface: Surface,
    *,
    method: bytes | None = None,
    target: bytes | None = None,
    version: bytes = b"HTTP/1.1",
    extra: tuple[bytes, ...] = (),
    length: int | None = None,
    chunked: bool = False,
    expect: bool = False,
    close: bool = True,
) -> bytes:
    line = b" ".join(part for part in (method or surface.method, target or surface.target, version) if part)
    lines = [line, b"Host: 127.0.0.1", *([surface.credential] if surface.credential else []), *extra]
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    if expect:
        lines.append(b"Expect: 100-continue")
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def normal(surface: Surface, close: bool = True) -> bytes:
    return head(surface, length=len(surface.body), close=close) + surface.body


def chunks(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# Header values as bytes: anything but CR, LF and NUL, with at least one byte that is not ASCII.
text_bytes = st.lists(st.integers(0x20, 0xFF), max_size=12).map(bytes)
not_utf8 = st.builds(lambda a, b, c: a + bytes([b]) + c, text_bytes, st.integers(0x80, 0xFF), text_bytes)
HEADER_NAMES = [
    *GATEWAY_HEADERS, "authorization", "x-api-key", "api-key", "cf-aig-collect-log-payload", "cf-aig-step",
    "x-semantic-threshold", "x-semantic-cache-key", "x-settings-overrides", "content-type", "accept",
    "accept-encoding", "user-agent", "x-client-note",
]  # fmt: skip
METHODS = [None, b"P@ST", b"\xffPOST", b"post", b"BREW", b"PRI", b"X" * 300]
VERSIONS = [
    b"HTTP/1.1", b"", b"HTTP/0.9", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/1", b"HTTX/1.1", b"http/1.1",
    b"HTTP/1.1 extra",
]  # fmt: skip
ODD_SUFFIXES = [b"/%ff%fe", b"%00", b"/%c3%28", b"?q=%ff", b"#frag", b"/\x01", b"//x", b"/;a"]
REPEATED = [
    b"Content-Length", b"Host", b"Transfer-Encoding", b"cf-aig-authorization", b"Fastly-Key",
    b"Authorization", b"cf-aig-metadata", b"cf-aig-cache-key", b"Content-Type", b"Expect",
]  # fmt: skip
MALFORMED_LINES = [
    b"NoColon", b"Space : x", b" Leading: x", b"Fold: a\r\n b", b"Nul: a\x00b", b"Cr: a\rb", b"\xff\xfe: x",
    b": no-name", b"Tab\t: x", b"Na\xc3\xa9me: x",
]  # fmt: skip
FRAMINGS = [
    "length-short", "length-long", "length-bad", "chunked", "chunk-size-bad", "chunk-no-crlf", "chunk-cut",
    "chunk-ext", "trailer-bad", "length-and-chunked", "te-other",
]  # fmt: skip


@st.composite
def request_lines(draw: st.DrawFn, surface: Surface) -> Case:
    method, version = draw(st.sampled_from(METHODS)), draw(st.sampled_from(VERSIONS))
    suffix = draw(
        st.one_of(
            st.just(b""),
            st.sampled_from([100, 8_200, 70_000]).map(lambda n: b"/" + b"a" * n),
            not_utf8.map(lambda raw: b"/" + raw.replace(b" ", b"")),
            st.sampled_from(ODD_SUFFIXES),
        )
    )
    target = draw(st.sampled_from([surface.target + suffix, b"*", b"http://evil.example" + surface.target]))
    data = head(surface, method=method, target=target, version=version, length=len(surface.body))
    return Case(f"request line {method!r} {target[:80]!r} {version!r}", (data + surface.body,))


@st.composite
def header_faults(draw: st.DrawFn, surface: Surface) -> Case:
    kind = draw(st.sampled_from(["not-utf8", "repeated", "oversized", "many", "malformed"]))
    if kind == "not-utf8":
        name = draw(st.sampled_from(HEADER_NAMES)).encode()
        prefix = draw(st.sampled_from([b"", b"Bearer "]))
        lines: tuple[bytes, ...] = (name + b": " + prefix + draw(not_utf8),)
    elif kind == "repeated":
        name = draw(st.sampled_from(REPEATED))
        values = draw(
            st.lists(st.sampled_from([b"0", b"7", b"chunked", b"{}", b"Bearer x", b""]), min_size=2)
        )
        lines = tuple(name + b": " + value for value in values)
    elif kind == "oversized":
        lines = (b"X-Big: " + b"a" * draw(st.sampled_from([8_191, 16_000, 70_000])),)
    elif kind == "many":
        lines = tuple(b"X-Fuzz-%d: v" % i for i in range(draw(st.sampled_from([129, 1_000, 5_000]))))
    else:
        lines = (draw(st.sampled_from(MALFORMED_LINES)),)
    data = head(surface, extra=lines, length=len(surface.body)) + surface.body
    return Case(f"headers ({kind}) {lines[0][:120]!r}", (data,))


@st.composite
def framings(draw: st.DrawFn, surface: Surface) -> Case:
    """Content-Length and chunked encoding, well and badly formed; `phased` sends the body only
    after 100 Continue, so a fault in it reaches the handler that reads the body."""
    body = surface.body or b"{}"
    phased, kind, size = draw(st.booleans()), draw(st.sampled_from(FRAMINGS)), draw(st.integers(1, 40))
    hang_up = False
    extra: tuple[bytes, ...] = ()
    length: int | None = None
    chunked = kind.startswith(("chunk", "trailer")) or kind == "length-and-chunked"
    if kind == "length-short":  # declares more than it sends, then hangs up
        length, hang_up = len(body) + draw(st.integers(1, 1_000)), True
    elif kind == "length-long":  # declares less: the rest is parsed as the next request
        length = max(len(body) - draw(st.integers(1, 10)), 0)
    elif kind == "length-bad":
        bad = draw(st.sampled_from([b"-1", b"abc", b"1e3", b"+5", b"0x10", b"9" * 30]))
        extra = (b"Content-Length: " + bad,)
    elif kind == "length-and-chunked":
        length = len(body)
    elif kind == "te-other":
        te = draw(st.sampled_from([b"gzip", b"chunked, gzip", b"identity", b"chunked, chunked", b"Chunked"]))
        extra = (b"Transfer-Encoding: " + te,)
    whole = chunks(body, size)
    if kind == "chunked" or kind == "length-and-chunked":
        payload = whole
    elif kind == "chunk-size-bad":
        bad = draw(st.sampled_from([b"zz", b"-1", b"f" * 30, b"0x10", b" 5", b"5 5"]))
        payload = whole.replace(b"%x" % min(size, len(body)), bad, 1)
    elif kind == "chunk-no-crlf":  # the CRLF after the first chunk's data is missing
        end = whole.index(b"\r\n") + 2 + min(size, len(body))
        payload = whole[:end] + whole[end + 2 :]
    elif kind == "chunk-cut":  # stops inside a chunk, then hangs up
        payload, hang_up = whole[: draw(st.integers(0, len(whole) - 2))], True
    elif kind == "chunk-ext":
        extension = draw(st.sampled_from([b"a=b", b"\xff", b"=", b'a="x']))
        payload = whole.replace(b"\r\n", b";" + extension + b"\r\n", 1)
    elif kind == "trailer-bad":
        payload = whole[:-2] + draw(
            st.sampled_from([b"NoColon\r\n\r\n", b"X: \xff\r\n\r\n", b"\x00\r\n\r\n"])
        )
    else:
        payload = body
    data = head(surface, extra=extra, length=length, chunked=chunked, expect=phased)
    parts = (data, payload) if phased else (data + payload,)
    return Case(f"framing {kind} phased={phased} {parts[-1][:80]!r}", parts, hang_up=hang_up)


@st.composite
def bodies(draw: st.DrawFn, surface: Surface) -> Case:
    kind = draw(st.sampled_from(["not-utf8-json", "binary", "encoded", "bomb", "charset"]))
    extra: tuple[bytes, ...] = ()
    body = surface.body or b'{"x":"hi"}'
    if kind == "not-utf8-json":
        body = body.replace(b"hi", draw(not_utf8).replace(b'"', b"").replace(b"\\", b""))
    elif kind == "binary":
        body = draw(st.binary(max_size=300))
    elif kind == "encoded":
        encoding = draw(st.sampled_from([b"gzip", b"deflate", b"br", b"zstd", b"x-unknown", b"gzip, gzip"]))
        valid = draw(st.booleans())
        if valid and encoding == b"gzip":
            body = gzip.compress(body)
        elif valid and encoding == b"deflate":
            body = zlib.compress(body)
        extra = (b"Content-Encoding: " + encoding,)
    elif kind == "bomb":  # a few hundred bytes that inflate past the body limit
        body, extra = gzip.compress(b" " * (MAX_BODY * 4)), (b"Content-Encoding: gzip",)
    else:
        extra = (
            b"Content-Type: application/json; charset="
            + draw(st.sampled_from([b"klingon", b"utf-16", b"\xff"])),
        )
    phased = draw(st.booleans())
    data = head(surface, extra=extra, length=len(body), expect=phased)
    parts = (data, body) if phased else (data + body,)
    return Case(f"body {kind} {extra!r} phased={phased}", parts)


@st.composite
def pipelined(draw: st.DrawFn, surface: Surface) -> Case:
    """A good request, garbage, then a good request that closes (unless the garbage closed first)."""
    garbage = draw(st.one_of(st.binary(min_size=1, max_size=120), not_utf8))
    data = normal(surface, close=False) + garbage + b"\r\n\r\n" + normal(surface)
    return Case(f"pipelined garbage {garbage!r}", (data,))


@st.composite
def hang_ups(draw: st.DrawFn, surface: Surface) -> Case:
    """A good request cut anywhere (request line, headers, body), then a FIN or a RST."""
    data = head(surface, length=len(surface.body)) + surface.body
    cut = draw(st.integers(0, len(data) - 1))
    return Case(f"cut at {cut}: {data[:cut][-60:]!r}", (data[:cut],), hang_up=True, reset=draw(st.booleans()))


@st.composite
def departures(draw: st.DrawFn, surface: Surface) -> Case:
    """A good request left in the middle of its answer: a proxy's is streamed, and the fake upstream
    holds the stream after its first chunk, so the client leaves while the answer is under way."""
    body, extra, leave_at = surface.body, (), b"\r\n\r\n"
    if surface.proxy:
        behavior = b'"x-fake-behavior":"pause-stream"'
        body = body.replace(b'"messages"', b'"stream":true,"messages"').replace(
            b'"headers":{}', b'"headers":{%s}' % behavior
        )
        extra, leave_at = (b"x-fake-behavior: pause-stream",), b"data:"
    data = head(surface, extra=extra, length=len(body)) + body
    return Case("left mid-answer", (data,), hang_up=True, reset=draw(st.booleans()), leave_at=leave_at)


def cases(surface: Surface) -> st.SearchStrategy[Case]:
    return st.one_of(
        request_lines(surface),
        header_faults(surface),
        framings(surface),
        bodies(surface),
        pipelined(surface),
        hang_ups(surface),
        departures(surface),
    )


def known_cases(surface: Surface) -> list[Case]:
    """Faults that once answered 500, tried on every run whatever hypothesis draws."""
    body = surface.body or b"{}"
    tokens = [b"cf-aig-authorization: Bearer \xc3(", b"Fastly-Key: caf\xe9", b"x-sluicegate-token: \xff\xfe"]
    if surface.credential:
        tokens = [b"Authorization: Bearer caf\xe9", b"Fastly-Key: \xff"]
    credential_free = Surface(surface.method, surface.target, surface.body)
    found = [
        Case(f"token {line!r}", (head(credential_free, extra=(line,), length=len(body)) + body,))
        for line in tokens
    ]
    lines = {
        "gzip that is not gzip": b"Content-Encoding: gzip",
        "a header not UTF-8": b"x-client-note: caf\xe9",
    }
    if surface.proxy:
        lines["a cache key not UTF-8"] = b"cf-aig-cache-key: \xff"
        lines["a provider key not UTF-8, cached per key"] = b"Authorization: Bearer sk-\xff"
    found += [
        Case(what, (head(surface, extra=(line,), length=len(body)) + body,)) for what, line in lines.items()
    ]
    return found


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url},
        host_overrides={"api.openai.com": fake.url, "api.groq.com": fake.url},
        secret_key=MASTER_KEY,
        max_body_bytes=MAX_BODY,
        body_timeout=BODY_TIMEOUT,
        metrics_require_token=True,
    )
    # Its own client, closed before the fuzzing starts: every connection the test counts is a raw one.
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        admin.put("/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": PROVIDER_KEY})
        settings = {"cache_enabled": True, "cache_per_key": True}
        assert admin.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings}).is_success
    return gateway


def check(transcript: Transcript, case: Case) -> None:
    for response in transcript.responses:
        assert response.status < 500, f"{case.what}: {transcript.raw[:600]!r}"
        if response.status >= 400 and answered_here(response):
            assert response.headers.get("content-type", "").startswith("application/json"), case.what
            assert "error" in orjson.loads(response.body), case.what
    for secret in (PROVIDER_KEY, MASTER_KEY):
        assert secret.encode() not in transcript.raw, case.what


def answered_here(response: RawResponse) -> bool:
    """Whether the gateway's own code produced `response`: not an upstream answer relayed as it came
    (the fake stamps those with `x-request-id`, as OpenAI does), nor aiohttp's plain-text answer to a
    request its parser refused before any handler ran (or to an `Expect` it does not know)."""
    refused = response.status in (400, 417) and response.headers.get("content-type", "").startswith(
        "text/plain"
    )
    return not refused and "x-request-id" not in response.headers


def answer_normally(port: int, surface: Surface) -> RawResponse:
    response = first_response(port, normal(surface))
    assert response is not None
    assert 200 <= response.status < 300, response
    return response


def logged(gateway: RunningGateway, log_id: str) -> dict[str, Any]:
    """The log record `log_id`, once the batching writer has stored it."""
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        url = f"/api/v1/accounts/local/gateways/default/logs/{log_id}"
        assert wait_until(lambda: admin.get(url).is_success), f"no log record {log_id}"
        record: dict[str, Any] = admin.get(url).json()
    return record


def unhandled_errors(records: list[logging.LogRecord]) -> list[str]:
    """Errors the gateway logged, except aiohttp's ERROR-level notes of the client's own faults: a
    request its parser refused, and a body it could not decode, met again when aiohttp reads
    what is left of it after the handler has answered."""
    found = []
    for record in records:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, web.RequestPayloadError):
            error = error.__cause__
        if record.levelno < logging.ERROR:
            continue
        if record.name == "aiohttp.server" and isinstance(error, HttpProcessingError):
            continue
        found.append(f"{record.name}: {record.getMessage()} {error!r}")
    return found


@pytest.mark.parametrize("name", list(SURFACES))
def test_malformed_http_gets_no_5xx_and_leaks_nothing(
    name: str, gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    surface = SURFACES[name]
    port = gateway.server.port
    answer_normally(port, surface)
    assert wait_until(lambda: connections_on(port) == 0)
    baseline = open_fds()

    def fuzz(case: Case) -> None:
        # Hypothesis seeds the global PRNG alike for every example, and the gateway (a thread of
        # this process) draws the random part of its log ids from it: two requests in the same
        # millisecond of two examples would share an id, and the second record be dropped.
        random.seed()
        transcript = converse(
            port, case.parts, hang_up=case.hang_up, reset=case.reset, leave_at=case.leave_at
        )
        check(transcript, case)
        if case.leave_at and surface.proxy:  # an answered request is logged, though its client left
            record = logged(gateway, transcript.responses[0].headers["cf-aig-log-id"])
            assert (record["status"], record["error"]) == (200, CLIENT_GONE), record
        answer_normally(port, surface)

    for case in known_cases(surface):
        fuzz = example(case=case)(fuzz)
    FUZZ(given(case=cases(surface))(fuzz))()

    last = answer_normally(port, surface)
    # Every connection is closed on the client's side: the gateway's side must follow, and with
    # it every descriptor it opened (its upstream connections are pooled, as at the baseline).
    assert wait_until(lambda: connections_on(port) == 0), f"{connections_on(port)} connections left open"
    assert wait_until(lambda: open_fds() <= baseline), f"{open_fds()} descriptors open, {baseline} before"
    if surface.proxy:  # its log records are written, the last request's too
        assert logged(gateway, last.headers["cf-aig-log-id"])["status"] == 200
    assert unhandled_errors(caplog.records) == []


@pytest.mark.parametrize(
    "name", ["provider", "universal", "compat", "host-in-path", "host-compat", "admin-write"]
)
def test_a_body_declared_over_the_limit_is_refused_before_it_arrives(
    name: str, gateway: RunningGateway
) -> None:
    response = first_response(gateway.server.port, head(SURFACES[name], length=MAX_BODY + 1, close=False))
    assert response is not None
    assert response.status == 413
    error = orjson.loads(response.body)["error"]
    assert error["limit"] == MAX_BODY
    assert f"{MAX_BODY + 1} bytes (Content-Length)" in error["message"]


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
@pytest.mark.parametrize("name", ["provider", "admin-write"])
def test_a_body_not_in_its_content_encoding_is_a_400_that_says_so(
    name: str, encoding: bytes, gateway: RunningGateway
) -> None:
    surface = SURFACES[name]
    extra = (b"Content-Encoding: " + encoding,)
    response = first_response(
        gateway.server.port, head(surface, extra=extra, length=len(surface.body)) + surface.body
    )
    assert response is not None
    assert response.status == 400
    error = orjson.loads(response.body)["error"]
    assert f"not valid {encoding.decode()} data" in error["message"]
    assert error["header"] == "content-encoding"


@pytest.mark.parametrize("trailer", [b"NoColon", b"\x00"])
@pytest.mark.parametrize("name", ["provider", "compat", "admin-write"])
def test_a_body_the_parser_refuses_once_invited_is_a_400_and_its_connection_closes(
    name: str, trailer: bytes, gateway: RunningGateway
) -> None:
    """A chunked body sent after `100 Continue` in one-byte chunks, its trailer refused by the
    parser. aiohttp's C parser left the body open (the body timeout's 408), and queued its error
    again at each chunk the handler read until it stopped reading the socket: the connection then
    outlived its client by aiohttp's lingering close (10 s), which the fuzz test above met as
    `1 connections left open` when such a case came last."""
    surface, port = SURFACES[name], gateway.server.port
    body = chunks(surface.body, 1)[:-2] + trailer + b"\r\n\r\n"
    transcript = converse(port, (head(surface, chunked=True, expect=True), body))
    answer = transcript.responses[-1]
    assert answer.status == 400, transcript.raw[-600:]
    error = orjson.loads(answer.body)["error"]
    assert error["message"].startswith("the request body could not be read: a request header is malformed")
    assert trailer not in answer.body
    # Closed once its client is, well within the 10 s aiohttp lingers on a body left unread.
    assert wait_until(lambda: connections_on(port) == 0, timeout=5)


@pytest.mark.parametrize("backend", ["embedded", "scaled"])
def test_requests_are_logged_whatever_bytes_their_headers_hold(gateway: RunningGateway) -> None:
    """A header value in Latin-1 (as older clients send `café`) is stored with U+FFFD in place of
    the byte that is not UTF-8, for a request answered (it goes upstream so:
    tests/integration/test_upstream_headers.py) and for one cut off mid-body alike."""
    surface, port = SURFACES["provider"], gateway.server.port
    note = (b"x-client-note: caf\xe9",)
    answered = first_response(port, head(surface, extra=note, length=len(surface.body)) + surface.body)
    assert answered is not None
    assert answered.status == 200
    # Cut off once the handler reads the body (after its 100 Continue): the client hung up, a 499.
    cut = head(surface, extra=note, length=len(surface.body), expect=True)
    converse(port, (cut, surface.body[:10]), hang_up=True)
    records = gateway.wait_for_logs(2)
    assert sorted(record["status"] for record in records) == [200, 499]
    for record in records:
        assert logged(gateway, record["id"])["request_headers"]["x-client-note"] == "caf\ufffd"


def test_a_semantic_segment_in_bytes_that_are_not_utf8_is_a_segment_like_any_other(
    gateway: RunningGateway,
) -> None:
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        settings = {"semantic_cache_enabled": True, "cache_enabled": False}  # no exact hit first
        assert admin.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings}).is_success
        surface, segment = SURFACES["provider"], (b"x-semantic-cache-key: caf\xe9",)
        request = head(surface, extra=segment, length=len(surface.body)) + surface.body
        first = first_response(gateway.server.port, request)
        assert first is not None
        assert first.status == 200
        assert first.headers["x-semantic-cache"] == "MISS"
        # Stored after the answer, once the models are in (on a loaded machine they load for longer
        # than a wait for the entry alone): the same segment then finds it.
        assert wait_until(lambda: admin.get("/healthz").json().get("semantic_cache") == "ready", 60)
        assert wait_until(lambda: "sluicegate_semantic_entries 1.0" in admin.get("/metrics").text)
        again = first_response(gateway.server.port, request)
        assert again is not None
        assert again.headers["x-semantic-cache"] == "HIT"
