"""An error stream is masked of stored credentials wherever its chunks split them."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sluicegate.credentials import Secrets
from sluicegate.pipeline.error_echoes import _scrubbed

KEY = "sk-stored-key-0123456789"
ERROR = (
    b'event: error\ndata: {"error": {"message": "bad key Bearer ' + KEY.encode() + b'"}}\n\n'
    b'{"also": "sk-stored-key-0123456789 and sk%2Dstored"}'
)


async def chunks(parts: list[bytes]) -> AsyncGenerator[bytes, None]:
    for part in parts:
        yield part


async def relayed(parts: list[bytes], secrets: Secrets) -> list[bytes]:
    return [chunk async for chunk in _scrubbed(chunks(parts), secrets)]


async def test_a_key_split_between_chunks_anywhere_is_masked() -> None:
    secrets = Secrets()
    secrets.add_stored(f"Bearer {KEY}")
    whole = secrets.scrub(ERROR)
    assert KEY.encode() not in whole
    for first in range(1, len(ERROR)):
        for second in (first + 1, first + 7, len(ERROR)):
            parts = [ERROR[:first], ERROR[first:second], ERROR[second:]]
            assert b"".join(await relayed(parts, secrets)) == whole, (first, second)


async def test_an_event_passes_at_its_line_end_not_at_the_streams() -> None:
    secrets = Secrets()
    secrets.add_stored(KEY)
    event = b'data: {"error": "bad key ' + KEY.encode() + b'"}\n\n'
    # The first chunk, a whole event, is relayed whole: a stream held open after it still shows it.
    assert await relayed([event, b"data: more"], secrets) == [
        b'data: {"error": "bad key [redacted]"}\n\n',
        b"data: more",
    ]
