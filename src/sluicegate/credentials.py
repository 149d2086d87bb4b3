"""Credentials in a request, and masking them before anything is stored or shown.

A credential travels in a header (the gateway token, the provider key), in a universal step's
`headers` or `endpoint` inside the JSON body, or in a query parameter (Gemini's `?key=`). Where it
travels its value is replaced by `[redacted]`; each value found is then also scrubbed from every
other part of the log record (an upstream echoing the key in an error, a prompt quoting it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

import orjson

from sluicegate.headertext import header_text
from sluicegate.providers import CREDENTIAL_HEADERS, KEY_PARAMS
from sluicegate.secret_forms import MIN_SCRUBBED, Written, all_written_forms, masked

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
# Where a key travels, and so is masked where it is quoted cut off too (`secret_forms.py`): a
# provider's key header and parameter and the gateway's token headers. Not a cookie, subprotocols or
# a header flagged only by its name (`X-Session-Id`): values that may share their start with
# ordinary text a model writes (`us-east-1-cluster-a`), masked whole only.
KEY_HEADERS = frozenset({*CREDENTIAL_HEADERS, "cf-aig-authorization", "x-sluicegate-token"})
_KEY_PARAMS = frozenset({*KEY_PARAMS, *CREDENTIAL_HEADERS})
# Subprotocols that carry a key or the gateway's token (pipeline/token_as_key.py): that part is one.
_KEY_PROTOCOLS = ("openai-insecure-api-key.", "cf-aig-authorization.")
_SPACE = re.compile(r"\s")
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
    """The credential values one request carried, to scrub from wherever else they show up: whole,
    and a credential also where a text holds only its start (a quote cut off: `secret_forms.py`)."""

    def __init__(self) -> None:
        self._values: dict[str, bool] = {}  # value -> whether its cut-off start is masked too
        self._forms: Written | None = None

    def add_header(self, name: str, value: object) -> None:
        lower = name.lower()
        if lower in SECRET_HEADERS and isinstance(value, str):
            self._add(value, lower in KEY_HEADERS)
            credential = value.strip().partition(" ")[2]
            if credential:  # `Bearer sk-…`: the key alone shows up too
                self._add(credential.strip(), lower in KEY_HEADERS)
            if lower == "sec-websocket-protocol":
                for protocol in value.split(","):
                    if protocol.strip().startswith(_KEY_PROTOCOLS):
                        self._add(protocol.strip().partition(".")[2], key=True)

    def add_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            self.add_header(name, value)

    def add_query(self, query: str) -> None:
        if not query:
            return
        for part in query.split("&"):
            name, equals, raw = part.partition("=")
            lower = unquote_plus(name).lower()
            if equals and lower in SECRET_PARAMS:
                self._add(raw, lower in _KEY_PARAMS)
                self._add(unquote_plus(raw), lower in _KEY_PARAMS)

    def add_value(self, value: str) -> None:
        """Any other value that must not be stored (what guardrails restored for the client):
        masked whole only, as its start is no secret."""
        self._add(value, key=False)

    def add_stored(self, value: str, header: str | None = None) -> None:
        """A credential the gateway added from storage (a pool's key; a custom provider's credential
        `header`, a key where it is one of `KEY_HEADERS`): as is and, `Scheme credential` (`Bearer
        sk-…`), the credential alone, as an upstream may quote either. Only for credentials:
        `X-Title: Acme Support Assistant` holds no credential after a scheme (`add_value` it)."""
        key = header is None or header.lower() in KEY_HEADERS
        self._add(value, key)
        credential = value.strip().partition(" ")[2].strip()
        if credential:
            self._add(credential, key)

    def _add(self, value: str, key: bool) -> None:
        """`value` masked whole; a `key` also where it is cut off (when it is one token and its
        start its own: `secret_forms.cuttable`)."""
        value = header_text(value)  # bytes that are not UTF-8 are stored as U+FFFD: scrub that form
        # A key is one token: `Bearer sk-…` starts with no secret (its key is added alone).
        cut = key and not _SPACE.search(value)
        known = self._values.get(value)
        if len(value) >= MIN_SCRUBBED and (known is None or (cut and not known)):
            self._values[value] = cut
            self._forms = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def forms(self) -> tuple[bytes, ...]:
        """Every written form of every value, as `scrub` looks for them, longest first."""
        return self._written().forms

    def probes(self) -> tuple[bytes, ...]:
        """What `scrub` looks for first: data that holds none of these comes back as it was."""
        return self._written().probes

    def scrub(self, data: bytes, more: bool = False) -> bytes:
        """`data` with every known credential (as sent, JSON-escaped or percent-encoded) masked;
        `more`: a chunk of a stream, where a credential's start at the very end is left as it is,
        for the stream to hold back until the next chunk says how it goes on."""
        return masked(data, self._written().groups, _MASK_BYTES, more) if self._values else data

    def scrub_text(self, text: str | None) -> str | None:
        return masked(text, self._written().text_groups, MASK) if text and self._values else text

    def scrub_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """`scrub_value` of a header dict, with one scan per form for the usual case of no match
        (a form found in one value is found in the values joined)."""
        if not self._values:
            return headers
        joined = "\0".join(headers.values())
        if not any(group.probe in joined for group in self._written().text_groups):
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

    def _written(self) -> Written:
        """Every written form of every value, longest first (a value holding another is masked
        whole), as bytes and as text, and the groups `scrub` looks for them by."""
        if self._forms is None:
            self._forms = all_written_forms(frozenset(self._values.items()))
        return self._forms


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
