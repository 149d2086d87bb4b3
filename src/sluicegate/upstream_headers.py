"""Which headers cross the gateway: the client's request headers sent upstream (hop-by-hop ones,
the gateway's own and undone codings dropped; bytes that are not UTF-8 mended or refused) and the
upstream's response headers relayed to the client."""

from __future__ import annotations

import functools
import re

from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from sluicegate.credentials import SECRET_HEADERS
from sluicegate.errors import BadRequest
from sluicegate.headertext import header_text, undecodable_at

# RFC 9110 §7.6.1 hop-by-hop headers, plus those that the client library recomputes.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip
# The gateway decompresses upstream bodies (to read usage and to cache them) and answers with
# identity encoding, so these two would misdescribe what it sends.
_RESPONSE_DROP = HOP_BY_HOP | {"content-encoding"}
# The client's Accept-Encoding is not forwarded: the gateway negotiates its own with the upstream.
# Nor is its Expect: the gateway answered the 100-continue itself and holds the whole body, but
# aiohttp's client, seeing the header, would wait (with no limit of its own) for the upstream's 100.
_REQUEST_DROP = HOP_BY_HOP | {"accept-encoding", "expect"}
# The request codings aiohttp's server undoes as the body arrives: a Content-Encoding (its last
# line, as its C parser reads it) that is exactly one of these. The body read is then decoded.
_DECODED_ON_ARRIVAL = frozenset({"gzip", "deflate", "br", "zstd"})
# The gateway's own request headers, read here and never sent on: Cloudflare's (with the two
# deprecated spellings that still work), ours, and Fastly AI Accelerator's, whose
# `x-semantic-cache-key` is often a tenant's name.
_GATEWAY_HEADER_PREFIXES = ("cf-aig-", "x-sluicegate-", "x-semantic-")
_GATEWAY_HEADERS = frozenset({"fastly-key", "x-settings-overrides", "cf-cache-ttl", "cf-skip-cache"})
# aiohttp adds its own User-Agent, and gives a POST, PUT or PATCH without a Content-Type
# `application/octet-stream`, a body-less one too (a Replicate prediction's `cancel`): the client's
# (or none) is what goes upstream.
_NO_USER_AGENT = ("User-Agent",)
_NO_CONTENT_TYPE = ("Content-Type",)
_NEITHER = ("User-Agent", "Content-Type")
_TYPED_METHODS = frozenset({"POST", "PUT", "PATCH"})  # aiohttp's POST_METHODS
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses to send in a header


def forwardable_request_headers(headers: MultiMapping[str]) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop ones (those its `Connection` names too), the gateway's
    own (`cf-aig-*`, `Fastly-Key`, `x-semantic-*`, ...) and the `Content-Encoding` that aiohttp
    undid on arrival: what is sent on is the decoded body, with its own length.

    Bytes that are not UTF-8 (a Latin-1 `é`) cannot be sent as received: aiohttp's client writes
    only UTF-8 header text (see headertext.py). In a credential a changed byte is another key, so
    `BadRequest` names such a header; in any other (`X-Title: Café`, as Python's `requests` and a
    browser's `fetch` send it) each such byte goes on as U+FFFD, as log records show it."""
    forwarded = CIMultiDict(headers)  # copied whole, the few dropped deleted: half the time of filtering
    for name in headers:
        if is_never_forwarded(name) and name in forwarded:
            del forwarded[name]
    if "Connection" in headers:
        _drop_connection_options(forwarded, headers.getall("Connection"))
    if "Content-Encoding" in forwarded:
        _drop_decoded_coding(forwarded)
    if not "".join(forwarded.values()).isascii():  # one pass in C over all values: rarely false
        return _mended(forwarded)
    return forwarded


def _mended(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    mended: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if (at := undecodable_at(value)) is not None:
            if name.lower() in SECRET_HEADERS:
                raise BadRequest(
                    f"the value of the {name} header holds bytes that are not UTF-8 (the first is byte"
                    f" {at} of the value): a credential the gateway cannot send upstream unchanged;"
                    " send it as UTF-8 or ASCII (Python's http.client and requests send a str value"
                    " as Latin-1: give them UTF-8 bytes)",
                    header=name,
                )
            value = header_text(value)
        mended.add(name, value)
    return mended


def _drop_connection_options(headers: CIMultiDict[str], connection: list[str]) -> None:
    """Drops the headers that `Connection` names: a proxy MUST, they are for one hop (RFC 9110 §7.6.1)."""
    for value in connection:
        for option in value.split(","):
            headers.popall(option.strip(), None)


def _drop_decoded_coding(headers: CIMultiDict[str]) -> None:
    """Drops the coding aiohttp's server undid, the last listed (the one applied last); any listed
    before it still describe the body."""
    codings = headers.getall("Content-Encoding")
    undone = codings[-1]
    if undone.isascii() and undone.lower() in _DECODED_ON_ARRIVAL:
        del headers["Content-Encoding"]
        headers.extend(("Content-Encoding", coding) for coding in codings[:-1])


@functools.lru_cache(maxsize=256)  # clients send the same few dozen names again and again
def is_never_forwarded(name: str) -> bool:
    """Whether a request header is dropped on the way upstream: hop-by-hop, `Accept-Encoding`,
    `Expect`, or the gateway's own (`is_gateway_header`)."""
    return name.lower() in _REQUEST_DROP or is_gateway_header(name)


def is_gateway_header(name: str) -> bool:
    """Whether a request header is one the gateway reads for itself (`cf-aig-*`, `Fastly-Key`,
    `x-semantic-*`, ...), not one for the provider."""
    lower = name.lower()
    return lower in _GATEWAY_HEADERS or lower.startswith(_GATEWAY_HEADER_PREFIXES)


def header_problem(name: str, value: str) -> str | None:
    """Why `name: value` cannot be sent upstream, or None. Names the header, never its value
    (it may be a key)."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid HTTP header name"
    if _CONTROL.search(value):
        return f"the value of {name!r} holds a line break or another control character"
    return None


def relayable_response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's headers minus hop-by-hop ones (those its `Connection` names too) and its
    `Content-Encoding` (the gateway answers with the decoded body). Bytes of a value that are not
    UTF-8 become U+FFFD, as in the log records: aiohttp's server cannot send them unchanged and
    would leave them out, making a different value that looks whole."""
    # Copying all and deleting the few present is four times faster than filtering pair by pair.
    relayed = CIMultiDict(headers)
    for name in _RESPONSE_DROP:
        if name in relayed:
            del relayed[name]
    if "Connection" in headers:
        _drop_connection_options(relayed, headers.getall("Connection"))
    if not "".join(relayed.values()).isascii():
        return CIMultiDict((name, header_text(value)) for name, value in relayed.items())
    return relayed


def skipped_auto_headers(method: str, headers: MultiMapping[str], body: bytes) -> tuple[str, ...] | None:
    """What aiohttp must not add to a request the client sent with `headers`: its User-Agent when
    the client sent none, its Content-Type when a body-less POST, PUT or PATCH named none (a body
    keeps aiohttp's, as before). Asked per request, only when needed: a session-wide skip costs
    every request."""
    typeless = not body and method in _TYPED_METHODS and "Content-Type" not in headers
    if "User-Agent" in headers:
        return _NO_CONTENT_TYPE if typeless else None
    return _NEITHER if typeless else _NO_USER_AGENT
