"""The values of a JSON text (a tool call's arguments, an answer asked to be JSON), read and
rewritten where they are, so that what goes out stays valid JSON wherever what came in was.

Detectors read a value's text, not its JSON spelling: `"to:\\nbob@example.com"` is scanned as
`to:` and `bob@example.com` on the next line (read raw, `nbob@example.com` would be the address).
Every string is a text (an object's keys too: data hides there as well) and so is every number
(a card number sent as a number is a card number). A string whose text changes is written anew,
its text escaped as JSON; a number a rule rewrites becomes a string (`"[CREDIT_CARD_1]"`);
everything else (structure, `true`, `null`, unchanged values) goes out as it came.

`rewrite_json` does this to a whole text, `JsonPipe` to one that arrives in pieces: each string
goes through a text pipe of its own as it comes (only the tail a match may still span is held,
plus an escape cut in two), a number whole once it ends, unless it is too short for any detector
to match (`TextPipe.shortest_number`: a card has 13 digits, an IPv4 address 7 characters), as
most numbers are; a value's pipe is let go once the value ends. Whatever way a text is cut, the
pieces put together equal the whole text piped at once. A text cut short (an answer stopped at
its token limit) is read the same way as far as it goes. A text that turns out not to be JSON at all
(prose where JSON was due: a character outside a string that JSON has no place for) is read as
prose from that character on, so that `card 4111 1111 1111 1111` is not read as four numbers.
So is one where a value follows a value with no `,` `:` `[` `{` between them: a number followed
by anything but `,` `:` `]` `}` (or the text's end) makes prose from the number's start (so that
`4111 1111 1111 1111` and `123 45 6789` are read whole, not as numbers each too short to scan),
and a value after a string, a literal, `]` or `}` makes prose from that value's start
(`{"a": 1}\n4111 1111 1111 1111`). A number is held until the character after it arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from .sse import TextPipe

# A string's content up to its closing quote or an escape not complete yet: plain runs and whole
# escapes, a high surrogate only with the low one it pairs with (alone it would not decode).
_CONTENT = re.compile(
    r"[^\"\\]*(?:\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|u(?![dD][89abAB])[0-9a-fA-F]{4}|[^u])[^\"\\]*)*"
)
# What may still become an escape (or a surrogate pair) when the text goes on.
_UNFINISHED_ESCAPE = re.compile(
    r"\\(?:u[0-9a-fA-F]{0,3}|u[dD][89abAB][0-9a-fA-F]{2}(?:\\(?:u[0-9a-fA-F]{0,3})?)?)?\Z"
)
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
_OUTSIDE = re.compile(r"[^\"0-9-]*")  # structure, white space, true, false, null
_NOT_JSON = re.compile(r"[^ \t\n\r{}\[\],:truefalsn]")  # what JSON has outside its strings and numbers
_NUMBER = re.compile(r"[0-9-][0-9.eE+-]*")
_SPACE = re.compile(r"[ \t\n\r]*")
_AFTER_NUMBER = frozenset(",:]}")  # what JSON may have after a value
_BEFORE_VALUE = frozenset(",:[{")  # what JSON may have last before a value
# A whole string (its closing quote missing when the text is cut short) or a number.
_VALUE = re.compile(r"\"([^\"\\]*(?:\\.[^\"\\]*)*)(\"?)|[0-9-][0-9.eE+-]*", re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile(r"[\"\\\x00-\x1f]")


def rewrite_json(text: str, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to the text of each string and number in it (and to the rest
    of a text that is not JSON, as prose); `text` itself when nothing changed."""
    parts: list[str] = []
    changed = False
    last = 0  # the end of the last value read
    expect = True  # whether a value may come next (nothing, or `,` `:` `[` `{` last before it)
    number = -1  # where the last value read starts when it is a number, else -1
    kept = 0  # where that number is in parts
    prose: int | None = None  # where the text stops being JSON
    for match in _VALUE.finditer(text):
        if (prose := _not_json(text, last, match.start(), number)) is not None:
            break
        if (run := text[last : match.start()].rstrip(" \t\n\r")) != "":
            expect = run[-1] in _BEFORE_VALUE
        if not expect:
            prose = match.start()
            break
        raw = match.group(0)
        if raw[0] == '"':
            value = _decode(match.group(1))
            after = change(value)
            written = raw if after == value else f'"{_encode(after)}{match.group(2)}'
            number = -1
        else:
            after = change(raw)
            written = raw if after == raw else f'"{_encode(after)}"'
            number, kept = match.start(), len(parts) + 1  # past the run before it
        changed |= written is not raw
        parts += (text[last : match.start()], written)
        last = match.end()
        expect = False
    else:
        prose = _not_json(text, last, len(text), number)
    if prose is not None:
        if prose == number:  # the number just read is prose's start: it is read again, as prose
            del parts[kept:]
            last = number
        rest = text[prose:]
        after = change(rest)
        changed |= after != rest
        parts += (text[last:prose], after)
    else:
        parts.append(text[last:])
    return "".join(parts) if changed else text


def _not_json(text: str, start: int, end: int, number: int) -> int | None:
    """Where `text` stops being JSON in the run from `start` (the end of the last value read, a
    number starting at `number` if not -1) to `end` (the next value's start or the text's end)."""
    if number >= 0:
        after = _SPACE.match(text, start)
        assert after is not None  # it matches the empty string
        if after.end() < len(text) and text[after.end()] not in _AFTER_NUMBER:
            return number
    prose = _NOT_JSON.search(text, start, end)
    return None if prose is None else prose.start()


class JsonPipe:
    """A JSON text in pieces through text pipes made by `make`, one per string and number: `feed`
    each piece, then `close()`; each returns what may go out now. `ended`, when given, is handed
    each pipe once closed (its findings final), so that the pipes of many values need not be
    kept. The pipes `make` makes read alike (the same detectors): the first one says which
    numbers none of them can match, and those get no pipe."""

    def __init__(self, make: Callable[[], TextPipe], ended: Callable[[TextPipe], None] | None = None) -> None:
        self._make = make
        self._ended = ended
        self.string: TextPipe | None = None  # the pipe of the string being read, inside one
        self._prose: TextPipe | None = None  # the pipe of the rest, once the text is not JSON
        self._held = ""  # raw text that cannot be read yet: a number, or an unfinished escape
        self._shortest_number = 0  # numbers shorter need no pipe (0: no pipe made yet to say)
        self._expect = True  # whether a value may come next (`,` `:` `[` `{` last, or nothing)

    def feed(self, piece: str) -> str:
        if self._prose is not None:
            return self._prose.feed(piece)
        text, self._held = self._held + piece, ""
        out: list[str] = []
        at, end = 0, len(text)
        while at < end:
            if self.string is not None:
                at = self._read_string(text, at, out)
                continue
            outside = _OUTSIDE.match(text, at)
            assert outside is not None  # it matches the empty string
            if (prose := _NOT_JSON.search(text, at, outside.end())) is not None:
                out += (text[at : prose.start()], self._to_prose(text[prose.start() :]))
                break
            if outside.end() > at:
                out.append(outside.group(0))
                if (run := outside.group(0).rstrip(" \t\n\r")) != "":
                    self._expect = run[-1] in _BEFORE_VALUE
                at = outside.end()
                if at == end:
                    break
            if not self._expect:  # a value right after a value: not JSON
                out.append(self._to_prose(text[at:]))
                break
            if text[at] == '"':
                out.append('"')
                self.string = self._new()
                at += 1
                continue
            number = _NUMBER.match(text, at)
            assert number is not None  # text[at] is a digit or a minus
            after = number.end()
            if after < end and text[after] not in _AFTER_NUMBER:
                space = _SPACE.match(text, after)
                assert space is not None  # it matches the empty string
                after = space.end()
            if after == end:
                self._held = text[at:]  # the number may go on, or a value follow, in the next piece
                break
            if text[after] not in _AFTER_NUMBER:  # a value (or prose) right after a number
                out.append(self._to_prose(text[at:]))
                break
            out.append(self._number(number.group(0)))
            at = number.end()
            self._expect = False
        return "".join(out)

    def _to_prose(self, rest: str) -> str:
        """Reads `rest`, and all that follows, as prose."""
        self._prose = self._new()
        return self._prose.feed(rest)

    def close(self) -> str:
        held, self._held = self._held, ""
        if self._prose is not None:
            prose, self._prose = self._prose, None
            return self._close(prose)
        if self.string is None:
            if not held:
                return ""
            number = _NUMBER.match(held)
            assert number is not None  # what is held outside a string is a number and white space
            return self._number(number.group(0)) + held[number.end() :]
        string, self.string = self.string, None  # a string cut short stays unterminated
        return _encode(self._close(string, _decode(held)))

    def _read_string(self, text: str, at: int, out: list[str]) -> int:
        """Reads the open string from `at` to its end or the text's (holding an unfinished escape);
        returns where reading stopped."""
        assert self.string is not None
        content = _CONTENT.match(text, at)
        assert content is not None  # it matches the empty string
        stop = content.end()
        if stop < len(text) and text[stop] == '"':  # the string ends: its last piece closes the pipe
            out.append(_encode(self._close(self.string, _decode(content.group(0)))) + '"')
            self.string = None
            self._expect = False
            return stop + 1
        if stop > at:
            out.append(_encode(self.string.feed(_decode(content.group(0)))))
        if stop == len(text):
            return stop
        if _UNFINISHED_ESCAPE.match(text, stop):
            self._held = text[stop:]
            return len(text)
        # A broken escape (a lone high surrogate, `\u` without four hex digits): read as the
        # replacement character or the character escaped, so that reading goes on.
        width = 6 if _HIGH_SURROGATE.match(text, stop) else 2
        out.append(_encode(self.string.feed(_decode(text[stop : stop + width]))))
        return stop + width

    def _number(self, number: str) -> str:
        if len(number) < self._shortest_number:
            return number
        after = self._close(self._new(), number)
        return number if after == number else f'"{_encode(after)}"'

    def _new(self) -> TextPipe:
        pipe = self._make()
        self._shortest_number = pipe.shortest_number
        return pipe

    def _close(self, pipe: TextPipe, last: str = "") -> str:
        """What `pipe` still holds and `last` (its last piece), the pipe closed and handed to
        `ended`."""
        rest = pipe.close(last)
        if self._ended is not None:
            self._ended(pipe)
        return rest


def _decode(content: str) -> str:
    """A JSON string's content (between its quotes) as text; a lone surrogate as U+FFFD."""
    if "\\" not in content:
        return content
    text = _ESCAPE.sub(_unescape, content)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _unescape(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if len(escaped) == 5:
        return chr(int(escaped[1:], 16))
    return _ESCAPED.get(escaped, escaped)


def _encode(text: str) -> str:
    """`text` as a JSON string's content (between its quotes)."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    return orjson.dumps(text).decode()[1:-1]
