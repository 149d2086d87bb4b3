"""Request bodies read as JSON, and what is wrong with one that cannot be read.

orjson reads strict RFC 8259 JSON; many upstreams read more (Python's `json` takes NaN and lone
surrogate escapes, and skips a byte order mark; Go's replaces bad UTF-8). A body the gateway cannot
read has no model, no tokens and no price, so it could not be counted against a limit or a budget:
it is refused (`base.unreadable`, asked before anything is sent) with the problem and its byte
offset, never forwarded. Whether a body is meant as JSON is what its Content-Type declares
(`declared_json`); a body with no type that says (none, text/plain, a form) is JSON when it starts
as JSON would, in UTF-8 or, as Python's `json` reads it, in UTF-16 or UTF-32. The diagnosis runs
only once orjson has failed, so a valid body pays nothing for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

BOM = b"\xef\xbb\xbf"
_NO_BOM = "JSON sent over a network must not start with one (RFC 8259 section 8.1): send the body without it"
_UTF8_ONLY = "JSON must be sent as UTF-8 (RFC 8259 section 8.1)"
_WHITESPACE = " \t\r\n"
_LOOKS_LIKE_JSON = b"{[ \t\r\n"  # how an object or array may start: anything else is not meant as JSON
# Byte order marks and the encodings they name; UTF-32LE's before UTF-16LE's, which it starts with.
_BOMS = (
    (BOM, "UTF-8"),
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe\x00\x00", "UTF-32LE"),
    (b"\xfe\xff", "UTF-16BE"),
    (b"\xff\xfe", "UTF-16LE"),
)
# Media types whose bodies are never JSON, however they start (a form's preamble, raw audio or image
# bytes sent to Workers AI or Hugging Face).
_NEVER_JSON_TYPES = ("multipart/", "audio/", "image/", "video/", "application/octet-stream")
_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")
_NOT_NUMBERS = ("NaN", "Infinity", "-Infinity")


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """Why a body meant as JSON cannot be read (`what`), where (`byte`, from 0) and what to send."""

    what: str
    byte: int
    advice: str = ""

    @property
    def message(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"the request body is not valid JSON at byte {self.byte}: {self.what}{advice}"


def declared_json(content_type: str | None) -> bool | None:
    """Whether a Content-Type says its body is JSON: True for application/json and any `+json`
    type, False for multipart, octet-stream, audio, image and video, None for any other or none."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return True
    return False if media.startswith(_NEVER_JSON_TYPES) else None


def read_json(body: bytes, declared: bool = False) -> tuple[Any, JsonProblem | None]:
    """The parsed body and None; `(None, None)` for an empty body or one not meant as JSON (it does
    not start as an object or array would, in any encoding); `(None, problem)` for one meant as JSON
    that orjson cannot read. `declared`: its Content-Type says JSON, so it is meant as JSON however
    it starts."""
    if not body:
        return None, None
    if body[:1] in _LOOKS_LIKE_JSON:
        try:
            return orjson.loads(body), None
        except orjson.JSONDecodeError as error:
            encoding = _encoding(body)
            return None, encoding.problem if encoding is not None else diagnose(body, error)
    encoding = _encoding(body)
    if encoding is not None and (declared or encoding.starts_as_json(body)):
        return None, encoding.problem
    if not declared:
        return None, None
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as error:
        return None, diagnose(body, error)


@dataclass(frozen=True, slots=True)
class _Encoding:
    """An encoding a body is in other than plain UTF-8: its `name` and the byte order mark that
    says so (b"" where NUL bytes among the first four say it)."""

    name: str
    bom: bytes

    def starts_as_json(self, body: bytes) -> bool:
        head = body[len(self.bom) : len(self.bom) + 64].decode(self.name, errors="ignore")
        return head.lstrip(_WHITESPACE)[:1] in ("{", "[")

    @property
    def problem(self) -> JsonProblem:
        if self.name == "UTF-8":
            return JsonProblem("a UTF-8 byte order mark (EF BB BF)", 0, _NO_BOM)
        how = f"byte order mark {self.bom.hex(' ').upper()}" if self.bom else "NUL bytes among the first four"
        return JsonProblem(f"text encoded as {self.name} ({how})", 0, _UTF8_ONLY)


def _encoding(body: bytes) -> _Encoding | None:
    """The encoding a byte order mark names or, without one, NUL bytes imply, read as Python's
    `json.detect_encoding` reads them (what a Python upstream would decode the body with)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return _Encoding(name, bom)
    if len(body) < 4:
        return None
    if not body[0]:  # 00 xx: UTF-16BE; 00 00: UTF-32BE
        return _Encoding("UTF-16BE" if body[1] else "UTF-32BE", b"")
    if not body[1]:  # xx 00 00 00: UTF-32LE; xx 00 xx or xx 00 00 xx: UTF-16LE
        return _Encoding("UTF-16LE" if body[2] or body[3] else "UTF-32LE", b"")
    return None


def diagnose(body: bytes, error: orjson.JSONDecodeError) -> JsonProblem:
    """What `error` (orjson's, on `body`) means, in words a client can act on, at its byte."""
    try:
        text = body.decode()
    except UnicodeDecodeError as bad:
        return JsonProblem(
            f"bytes that are not UTF-8 ({body[bad.start : bad.end].hex(' ').upper()})",
            bad.start,
            _UTF8_ONLY,
        )
    pos = min(max(error.pos, 0), len(text))
    byte = len(text[:pos].encode())  # orjson counts characters; clients count bytes
    if "surrogate" in error.msg and (escape := _ESCAPE.match(text, pos)):
        return JsonProblem(
            f"a lone surrogate escape {escape.group()}",
            byte,
            "send the character itself, or a valid pair (\\ud800-\\udbff followed by \\udc00-\\udfff)",
        )
    # orjson stops after the sign of `-Infinity`: step back to it.
    start = pos - 1 if pos and text[pos - 1] == "-" else pos
    for word in _NOT_NUMBERS:
        if text.startswith(word, start):
            return JsonProblem(
                f"{word} is not a JSON number",
                len(text[:start].encode()),
                "send null or a finite number",
            )
    if error.msg == "depth limit exceeded":
        return JsonProblem("arrays and objects nested deeper than 1024 levels", byte)
    return JsonProblem(error.msg, byte)
