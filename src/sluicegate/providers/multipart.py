"""A multipart/form-data body's text fields, found by walking its parts by their boundary.

Wire format: RFC 7578 and RFC 2046 §5.1.1 — each part opens with `--boundary` on a line of its own,
then its headers (`Content-Disposition: form-data; name="…"`, with `filename` for a file), a blank
line and its content up to the next CRLF `--boundary`; `--boundary--` closes the form. A field
may come before or after a file (OpenAI's curl example and its Node SDK send the file first), so
every part is walked; a file's bytes are only searched for the next boundary, never parsed, and a
file that contains `name="model"` is content, not a field.

The boundary is read off the body's first line (what every SDK and curl send: no preamble); the
gateway checks it against the one the request's Content-Type declares (`declared_boundary`), so a
body framed one way for the gateway and another for the provider is refused, not misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sluicegate.providers.json_body import JsonProblem

_CRLF = b"\r\n"
_MAX_BOUNDARY = 70  # RFC 2046's limit
_MAX_HEADERS = 8 * 1024  # a part's headers; more is no form a client writes
_MAX_FIELD = 4 * 1024  # a text field read (model, size, n); longer ones (a prompt) are skipped
# Content-Disposition's value (RFC 2183, RFC 2045 §5.1): a type token, then `; key=value`
# parameters, a value a token or a quoted-string (in which a backslash escapes the next byte).
_TOKEN = rb"[!#$%&'*+.^_`{|}~0-9A-Za-z-]+"
_TYPE = re.compile(rb"[ \t]*" + _TOKEN + rb"[ \t]*")
_PARAM = re.compile(
    rb"[ \t]*;[ \t]*(" + _TOKEN + rb')[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|(' + _TOKEN + rb"))[ \t]*"
)
_END = re.compile(rb"[ \t]*;?[ \t]*\Z")  # (a trailing `;`, as Go and Python's email allow)
_DISPOSITION = b"content-disposition"
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Form:
    """A form's `boundary`, its text `fields` (parts without a filename, up to 4 KB) by name,
    the first of each, the names sent more than once (`repeated`) and as a file (`files`), and
    where it stops being a form (`broken_at`: no boundary line, headers or next boundary where one
    must come, or part headers another parser could read otherwise; None for a form walked to its
    closing boundary) and why (`broken`)."""

    boundary: str
    fields: dict[str, str] = field(default_factory=dict)
    repeated: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    broken_at: int | None = None
    broken: str = ""


def read_form(body: bytes) -> Form:
    """The form `body` holds, walked part by part."""
    first = body.find(_CRLF, 0, _MAX_BOUNDARY + 4)
    if not body.startswith(b"--") or first < 3:
        return Form("", broken_at=0, broken="it does not open with its boundary")
    boundary = body[2:first].rstrip(b" \t")  # (RFC 2046 lets transport padding follow it)
    delimiter = _CRLF + b"--" + boundary
    fields: dict[str, str] = {}
    seen: set[str] = set()
    repeated: set[str] = set()
    files: set[str] = set()

    def form(broken_at: int | None, broken: str = "a part is cut short") -> Form:
        return Form(
            boundary.decode("latin-1"),
            fields,
            frozenset(repeated),
            frozenset(files),
            broken_at,
            broken if broken_at is not None else "",
        )

    at = first + 2
    while True:
        if body.startswith(_CRLF, at):  # a part without headers
            headers_end = at
        elif (headers_end := body.find(_CRLF + _CRLF, at, at + _MAX_HEADERS)) < 0:
            return form(at)
        content_at = headers_end + (2 if headers_end == at else 4)
        end, after = _next_delimiter(body, delimiter, content_at)
        if end < 0:
            return form(content_at)
        disposition = _disposition(body[at:headers_end])
        if isinstance(disposition, str):
            return form(at, disposition)
        name, is_file = disposition
        if name is not None and is_file:
            files.add(name)
        if name is not None and name in seen:
            repeated.add(name)
        elif name is not None:
            seen.add(name)
            if not is_file and end - content_at <= _MAX_FIELD:
                fields[name] = body[content_at:end].decode("utf-8", "replace")
        if after < 0:  # the closing delimiter
            return form(None)
        at = after


def _next_delimiter(body: bytes, delimiter: bytes, start: int) -> tuple[int, int]:
    """Where the next delimiter line from `start` begins and where the part after it does (-1
    after the closing one), or (-1, -1). CRLF `--boundary` followed by anything but `--` or the
    line's end is content, as a strict parser reads it."""
    while (end := body.find(delimiter, start)) >= 0:
        rest = end + len(delimiter)
        if body.startswith(b"--", rest):
            return end, -1
        line_end = body.find(_CRLF, rest, rest + 80)
        if line_end >= 0 and not body[rest:line_end].strip(b" \t"):
            return end, line_end + 2
        start = end + 1
    return -1, -1


def _disposition(headers: bytes) -> tuple[str | None, bool] | str:
    """A part's field name (None without one) and whether it is a file, from its headers; or why
    they are refused: headers that Python's email parser, Go's mime or Starlette could read
    another name from (a folded line, two Content-Disposition headers, a parameter named twice or
    in RFC 2231's `name*` form, a name with a backslash, which escapes or not by parser), or that
    do not parse."""
    value = None
    for line in headers.split(_CRLF):
        if line.startswith((b" ", b"\t")):
            return "a part's header is folded onto a second line"
        key, colon, rest = line.partition(b":")
        if key.strip(b" \t").lower() != _DISPOSITION:
            continue
        if value is not None:
            return "a part has more than one Content-Disposition header"
        if not colon or key.lower() != _DISPOSITION:
            return "a part's Content-Disposition header is malformed"
        value = rest
    if value is None:
        return None, False
    params = _params(value)
    if isinstance(params, str):
        return params
    name = params.get(b"name")
    if name is not None and b"\\" in name:
        return "a part's name holds a backslash"
    is_file = b"filename" in params or b"filename*" in params
    return (None if name is None else name.decode("utf-8", "replace")), is_file


def _params(value: bytes) -> dict[bytes, bytes] | str:
    """A Content-Disposition value's parameters by lowercase key (a quoted value as sent, quotes
    off), or why they are refused."""
    unreadable = "a part's Content-Disposition parameters cannot be read"
    if (typed := _TYPE.match(value)) is None:
        return unreadable
    params: dict[bytes, bytes] = {}
    at = typed.end()
    while _END.match(value, at) is None:
        if (param := _PARAM.match(value, at)) is None:
            return unreadable
        key = param.group(1).lower()
        if key.startswith(b"name*"):
            return "a part is named in RFC 2231's `name*` form"
        if key in params:
            return f"a part's Content-Disposition has its {key.decode()!r} parameter twice"
        params[key] = param.group(2) if param.group(2) is not None else param.group(3)
        at = param.end()
    return params


def declared_boundary(content_type: str | None) -> str | None:
    """The boundary a multipart Content-Type declares, or None."""
    found = _BOUNDARY_PARAM.search(content_type or "")
    if found is None:
        return None
    return found.group(1) if found.group(1) is not None else found.group(2)


@dataclass(frozen=True, slots=True)
class FormProblem(JsonProblem):
    """Why a form the gateway reads fields from is refused (a JsonProblem's shape: a 400 at a byte)."""

    @property
    def message(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"the request's multipart form cannot be read at byte {self.byte}: {self.what}{advice}"


def form_problem(problem: JsonProblem | None, body: bytes, content_type: str | None) -> JsonProblem | None:
    """Why a body declared multipart is refused, or None: its first line is a boundary other than
    the declared one (the provider would take it for a preamble and read other parts than the
    gateway did), or the adapter's own `FormProblem` (a field read twice)."""
    declared = declared_boundary(content_type)
    form_line = body.find(_CRLF, 0, _MAX_BOUNDARY + 4)
    if declared is not None and body.startswith(b"--") and form_line > 2:
        opened = body[2:form_line].rstrip(b" \t").decode("latin-1")
        if opened != declared:
            what = f"it opens with boundary {opened!r} but its Content-Type declares {declared!r}"
            return FormProblem(what, 0, "send no preamble, and the boundary the Content-Type names")
    return problem if isinstance(problem, FormProblem) else None
