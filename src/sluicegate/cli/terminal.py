"""Text that clients chose (a model name, a path, metadata, an error quoting them), made safe to print
on a terminal: a newline would forge a log line, ESC and the C1 controls start sequences that clear the
screen, colour it or retitle the window, and bidi overrides (U+202E) show text reversed. Each such
character is printed as an escape instead (`\\n`, `\\x1b`, `\\u202e`), so the output is one line per
record and shows what was sent.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; the bidi marks, embeddings, overrides and isolates; the Unicode line
# and paragraph separators (a new line to some terminals).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same set in a JSON text: JSON escapes C0 itself, and a line ends in its own "\n".
_JSON_CONTROLS = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str) -> str:
    """`text` with every control and bidi character written as an escape."""
    return _CONTROLS.sub(_escape, text)


def json_shown(line: bytes) -> bytes:
    """A UTF-8 JSON text with those characters written as `\\uXXXX`: the same JSON value (they
    can only stand inside strings), safe on a terminal."""
    text = line.decode()
    if not _JSON_CONTROLS.search(text):
        return line
    return _JSON_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
