"""Cutting bytes that may be UTF-8 text without splitting a character."""

from __future__ import annotations

_CONTINUATION_MASK, _CONTINUATION = 0xC0, 0x80  # a byte 10xxxxxx goes on a character started before


def whole_characters(data: bytes, limit: int) -> bytes:
    """`data`'s first `limit` bytes, fewer (up to 3) where the cut would split a UTF-8 character,
    so that what is shown of a cut body decodes without a replacement character at its end.
    Binary data loses at most those few bytes."""
    if len(data) <= limit:
        return data
    cut = limit
    while cut > max(limit - 3, 0) and data[cut] & _CONTINUATION_MASK == _CONTINUATION:
        cut -= 1
    return data[:cut] if data[cut] & _CONTINUATION_MASK != _CONTINUATION else data[:limit]
