"""When a stream counts as complete for the caches: read to its end, or its end marker delivered."""

from __future__ import annotations

import pytest

from sluicegate.pipeline.cache import ended

LONG_COMPLETED = b'event: response.completed\ndata: {"response": {"output_text": "' + b"x" * 2000 + b'"}}\n\n'


@pytest.mark.parametrize(
    ("chunks", "complete"),
    [
        ([b'data: {"choices": []}\n\n', b"data: [DONE]\n\n"], True),
        ([b"event: response.completed\ndata: {}\n\n"], True),
        # The Responses API's end event carries the whole response: its marker is far from the end.
        ([b"event: response.output_text.done\ndata: {}\n\n", LONG_COMPLETED], True),
        ([b'event: message_stop\ndata: {"type": "message_stop"}\n\n'], True),
        ([b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n'], False),
        ([b"data: [DO", b"NE]\n\n"], True),
        ([], False),
    ],
)
def test_end_markers(chunks: list[bytes], complete: bool) -> None:
    assert ended(chunks) is complete
