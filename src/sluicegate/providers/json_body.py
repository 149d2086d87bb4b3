"""Request bodies read as JSON, and what is wrong with one that cannot be read.

orjson reads strict RFC 8259 JSON; many upstreams read more (Python's `json` takes NaN and lone
surrogate escapes, and skips a byte order mark; Go's replaces bad UTF-8). A body the gateway cannot
read has no model, no tokens and no price, so it could not be counted against a limit or a budget:
it is refused (`pipeline/readable_body.py`) with the problem and its byte offset, never forwarded.
The diagnosis runs only once orjson has failed, so a valid body pays nothing for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

BOM = b"\xef\xbb\xbf"
_NO_BOM = "JSON sent over a network must not start with one (RFC 8259 section 8.1): send the body without it"
_LOOKS_LIKE_JSON = b"{[ \t\r\n"  # how an object or array may start: anything else is not meant as JSON
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


def read_json(body: bytes) -> tuple[Any, JsonProblem | None]:
    """The parsed body and None; `(None, None)` for a body not meant as JSON (empty, multipart,
    binary: it does not start as an object or array would); `(None, problem)` for one meant as JSON
    that orjson cannot read."""
    unmarked = body.removeprefix(BOM)
    if not unmarked or unmarked[:1] not in _LOOKS_LIKE_JSON:
        return None, None
    if unmarked is not body:
        return None, JsonProblem("a UTF-8 byte order mark (EF BB BF)", 0, _NO_BOM)
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as error:
        return None, diagnose(body, error)


def diagnose(body: bytes, error: orjson.JSONDecodeError) -> JsonProblem:
    """What `error` (orjson's, on `body`) means, in words a client can act on, at its byte."""
    try:
        text = body.decode()
    except UnicodeDecodeError as bad:
        return JsonProblem(
            f"bytes that are not UTF-8 ({body[bad.start : bad.end].hex(' ').upper()})",
            bad.start,
            "JSON must be sent as UTF-8 (RFC 8259 section 8.1)",
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
