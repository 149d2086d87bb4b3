"""When a stream counts as complete for the caches: read to its end, or its end marker delivered."""

from __future__ import annotations

import pytest

from sluicegate.pipeline.cache import ended


@pytest.mark.parametrize(
    ("chunks", "complete"),
    [
        ([b'data: {"choices": []}\n\n', b"data: [DONE]\n\n"], True),
        ([b"event: response.completed\ndata: {}\n\n"], True),
        ([b'event: message_stop\ndata: {"type": "message_stop"}\n\n'], True),
        ([b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n'], False),
        ([b"data: [DO", b"NE]\n\n"], True),
        ([], False),
    ],
)
def test_end_markers(chunks: list[bytes], complete: bool) -> None:
    assert ended(chunks) is complete
