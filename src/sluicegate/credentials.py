"""Credentials in a request, and masking them before anything is stored or shown.

A credential travels in a header (the gateway token, the provider key), in a universal step's
`headers` or `endpoint` inside the JSON body, or in a query parameter (Gemini's `?key=`). Where it
travels its value is replaced by `[redacted]`; each value found is then also scrubbed from every
other part of the log record (an upstream echoing the key in an error, a prompt quoting it).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import orjson

from sluicegate.headertext import header_text
from sluicegate.providers import CREDENTIAL_HEADERS, KEY_PARAMS

MASK = "[redacted]"
_MASK_BYTES = MASK.encode()
# Headers that carry credentials: the gateway's own token headers, every provider's key header,
# and a few the wider ecosystem uses (AWS session tokens, Azure API Management keys).
SECRET_HEADERS = frozenset(
    {
        "authorization", "proxy-authorization", "cookie", "set-cookie",
        "cf-aig-authorization", "fastly-key", "x-sluicegate-token",
        "x-amz-security-token", "ocp-apim-subscription-key",
        # Browsers cannot set headers on a WebSocket: keys ride in its subprotocols
        # (OpenAI's `openai-insecure-api-key.<key>`).
        "sec-websocket-protocol",
        *CREDENTIAL_HEADERS,
    }
)  # fmt: skip
# A header an account custom provider stores under another name carries a credential when its
# name says so (`X-Tenant-Key`, `X-Auth-Token`, `Helicone-Auth`, `X-Client-Secret`) or its value is
# an HTTP authentication scheme and one credential (`Bearer sk-…`, `Basic …`: RFC 9110 §11.4; not
# `Key Largo Tours`). Not `X-Title`, `HTTP-Referer`, `OpenAI-Organization`: configuration, not keys.
_CREDENTIAL_NAME = re.compile(r"key|token|auth|secret|passw|credential|signature|cookie|session")
_SCHEME_VALUE = re.compile(r"(?i)\s*(?:bearer|basic|token|key|apikey|dpop|negotiate) +\S+\s*")
# Query parameters that carry credentials: every provider's key parameter (Gemini's `?key=`,
# https://ai.google.dev/gemini-api/docs/api-key) and the names the wider ecosystem uses (OAuth
# access tokens, Azure SAS signatures), and every provider's key header's name (a client may put
# `x-goog-api-key` in the query), so a key sent where a provider does not take it is masked too.
SECRET_PARAMS = frozenset(
    {"key", "api_key", "api-key", "apikey", "access_token", "token", "sig", *KEY_PARAMS, *CREDENTIAL_HEADERS}
)
# Values shorter than this are masked where they travel but not searched for elsewhere: a short
# value would wipe ordinary words out of bodies, and no provider issues keys that short.
MIN_SCRUBBED = 8
_CHECK_EVERY = 1024  # JSON nodes between two looks at the clock


class Unmaskable(Exception):
    """A body that may hold credentials but cannot be read to mask them (it is then not stored)."""


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header name (lower case) -> value, with credentials replaced by the mask. Values are made
    storable text: one value that is not UTF-8 would otherwise fail its whole batch of records."""
    masked: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        masked[lower] = MASK if lower in SECRET_HEADERS else header_text(value)
    return masked


def is_credential_header(name: str, value: str) -> bool:
    """Whether a header the gateway sets from storage carries a credential: one `SECRET_HEADERS`
    names, one whose name says so, or a value in an authentication scheme (see above)."""
    lower = name.lower()
    return lower in SECRET_HEADERS or bool(_CREDENTIAL_NAME.search(lower) or _SCHEME_VALUE.fullmatch(value))


def mask_query(query: str) -> str:
    """A query string (no `?`) with the values of credential parameters replaced by the mask."""
    if not query:
        return query
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name).lower() in SECRET_PARAMS:
            parts[index] = f"{name}={MASK}"
    return "&".join(parts)


def mask_url(url: str) -> str:
    path, mark, query = url.partition("?")
    return path + mark + mask_query(query) if mark else url


class Secrets:
    """The credential values one request carried, to scrub from wherever else they show up."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._forms: tuple[tuple[bytes, ...], tuple[str, ...]] | None = None

    def add_header(self, name: str, value: object) -> None:
        if name.lower() in SECRET_HEADERS and isinstance(value, str):
            self._add(value)
            credential = value.strip().partition(" ")[2]
            if credential:  # `Bearer sk-…`: the key alone shows up too
                self._add(credential.strip())

    def add_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            self.add_header(name, value)

    def add_query(self, query: str) -> None:
        if not query:
            return
        for part in query.split("&"):
            name, equals, raw = part.partition("=")
            if equals and unquote_plus(name).lower() in SECRET_PARAMS:
                self._add(raw)
                self._add(unquote_plus(raw))

    def add_value(self, value: str) -> None:
        """Any other value that must not be stored (what guardrails restored for the client)."""
        self._add(value)

    def add_stored(self, value: str) -> None:
        """A credential the gateway added from storage (a stored key, a custom provider's credential
        header): as is and, `Scheme credential` (`Bearer sk-…`), the credential alone, as an
        upstream may quote either. Only for credentials: `X-Title: Acme Support Assistant` holds
        no credential after a scheme (`add_value` such a value, whole)."""
        self._add(value)
        credential = value.strip().partition(" ")[2].strip()
        if credential:
            self._add(credential)

    def _add(self, value: str) -> None:
        value = header_text(value)  # bytes that are not UTF-8 are stored as U+FFFD: scrub that form
        if len(value) >= MIN_SCRUBBED and value not in self._values:
            self._values.add(value)
            self._forms = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def forms(self) -> tuple[bytes, ...]:
        """Every written form of every value, as `scrub` looks for them, longest first."""
        return self._written()[0]

    def scrub(self, data: bytes) -> bytes:
        """`data` with every known credential (as sent, JSON-escaped or percent-encoded) masked."""
        if self._values:
            for form in self._written()[0]:
                if form in data:
                    data = data.replace(form, _MASK_BYTES)
        return data

    def scrub_text(self, text: str | None) -> str | None:
        if text and self._values:
            for form in self._written()[1]:
                if form in text:
                    text = text.replace(form, MASK)
        return text

    def scrub_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """`scrub_value` of a header dict, with one scan per form for the usual case of no match
        (a form found in one value is found in the values joined)."""
        if not self._values:
            return headers
        joined = "\0".join(headers.values())
        if not any(form in joined for form in self._written()[1]):
            return headers
        return {name: self.scrub_text(value) or "" for name, value in headers.items()}

    def scrub_value(self, value: Any) -> Any:
        """A JSON-like value with credentials scrubbed from every string in it."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {key: self.scrub_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_value(item) for item in value]
        return value

    def _written(self) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
        """Every written form of every value, longest first (a value holding another is masked
        whole), as bytes and as text."""
        if self._forms is None:
            self._forms = _all_written_forms(frozenset(self._values))
        return self._forms


@lru_cache(maxsize=1024)  # a request carries the same key (or keys) as many before it
def _all_written_forms(values: frozenset[str]) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    forms = sorted({form for value in values for form in _written_forms(value)}, key=len, reverse=True)
    return tuple(forms), tuple(form.decode("utf-8", "surrogatepass") for form in forms)


@lru_cache(maxsize=1024)  # the same few keys come again and again
def _written_forms(value: str) -> frozenset[bytes]:
    """How `value` may be written down: as is, percent-encoded, or in a JSON string escaped as
    orjson, Python's `json` (non-ASCII as `\\u` escapes) or Go (`<`, `>`, `&` too) write it."""
    forms = {
        value.encode("utf-8", "surrogatepass"),
        quote(value, safe="").encode(),
        quote_plus(value, safe="").encode(),
    }
    for escaped in (orjson.dumps(value)[1:-1], json.dumps(value)[1:-1].encode()):
        forms.add(escaped)
        forms.add(escaped.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026"))
    return frozenset(form for form in forms if len(form) >= MIN_SCRUBBED)


def mask_universal_body(body: bytes, secrets: Secrets, deadline: float) -> bytes:
    """A universal endpoint's body with every step's credentials masked (and added to `secrets`).

    Any object key that names a credential header is masked at any depth, and any `endpoint`
    string has its credential parameters masked, so a body that failed validation (a misspelt
    field, a step of the wrong shape) is masked as well as a valid one. Raises `Unmaskable` when
    the body cannot be read or written again as JSON, or the walk runs past `deadline` (a
    `time.thread_time()` value).
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unmaskable(f"not readable as JSON ({exc.msg})") from None
    stack: list[Any] = [document]
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited % _CHECK_EVERY == 0 and time.thread_time() > deadline:
            raise Unmaskable("masking ran past the time budget of the record")
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            lower = key.lower()
            if lower in SECRET_HEADERS:
                secrets.add_header(lower, value)
                node[key] = MASK
            elif lower == "endpoint" and isinstance(value, str):
                secrets.add_query(value.partition("?")[2])
                node[key] = mask_url(value)
            else:
                stack.append(value)
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        raise Unmaskable("nested too deeply to write again") from None
