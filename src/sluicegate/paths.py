"""Upstream paths that stay under their provider's base URL.

A path that comes from a request (a provider endpoint's tail, a universal step's `endpoint`, a
host-in-path rest, a compat model turned into a path) is appended to the provider's base URL, and a
stored provider key goes with it. A `.` or `..` segment could move it elsewhere: the HTTP client
resolves `..` and `%2e%2e` itself (yarl), and an upstream server may decode `%2f` and `\\` into
separators (or `%252e` twice) before it resolves the rest. No provider API has such a segment, and
a provider's path is not always a plain suffix (Azure's resource becomes the host, Workers AI's
model follows `run/`), so any such segment is refused, however it is spelled.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sluicegate.errors import BadRequest

_DOTS = frozenset({".", ".."})
_DECODINGS = 3  # how many rounds of percent-decoding a path is checked through (`%252e` is two)


def check_path(path: str, where: str = "path", **details: Any) -> None:
    """Raise a 400 naming `path` when a segment of it is `.` or `..`, however encoded.

    `where` names the path in the message (e.g. "step 1: endpoint"); `details` go into the error.
    """
    if "." not in path and "%" not in path:  # the common case: nothing to decode, no dot
        return
    segments = _segments(path)
    if not any(segment in _DOTS for segment in segments):
        return
    raise BadRequest(
        f"{where} {path!r} has a '.' or '..' segment (also when percent-encoded, or after '%2f' or "
        f"'\\'): such segments are refused, as they can lead outside the provider's base URL"
        f"{_suggestion(segments)}",
        path=path,
        **details,
    )


def _segments(path: str) -> list[str]:
    decoded = path
    for _ in range(_DECODINGS):
        if "%" not in decoded:
            break
        decoded = unquote(decoded)
    # `..;x` is `..` to servlet containers (path parameters); `\` is `/` to some servers.
    return [segment.partition(";")[0] for segment in decoded.replace("\\", "/").split("/")]


def _suggestion(segments: list[str]) -> str:
    """`; did you mean 'a/b'?` when resolving the dots stays under the base, else that it does not."""
    resolved: list[str] = []
    for segment in segments:
        if segment == "..":
            if not resolved:
                return ", and this one does"
            resolved.pop()
        elif segment != ".":
            resolved.append(segment)
    return f"; did you mean {'/'.join(resolved)!r}?"
