"""The one SSE parser: the incremental reader and the complete-stream reader agree, whatever the
line ends and wherever the stream is cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.providers.sse import SseEvent, SseParser, iter_data, iter_events

_LINES = st.lists(
    st.sampled_from([b"data: 1", b"data: [2]", b"data:3", b"data", b"event: x", b"id: 7", b": comment", b""]),
    max_size=12,
)


def _incremental(stream: bytes, cuts: list[int]) -> list[SseEvent]:
    parser, events, start = SseParser(), [], 0
    for cut in sorted(cuts):
        events += parser.feed(stream[start:cut])
        start = cut
    return events + parser.feed(stream[start:]) + parser.close()


def test_fields_follow_the_spec() -> None:
    stream = b': hello\nevent: delta\ndata: {"a":\ndata:1}\nid: 3\n\ndata:  two spaces\n\n'
    events = list(iter_events(stream))
    assert [(event.name, event.data) for event in events] == [(b"delta", b'{"a":\n1}'), (b"", b" two spaces")]
    assert b"".join(event.raw for event in events) == stream


@given(
    _LINES, st.sampled_from([b"\n", b"\r\n", b"\r"]), st.booleans(), st.lists(st.integers(0, 200), max_size=6)
)
def test_cut_anywhere_with_any_line_end_gives_the_same_events(
    lines: list[bytes], newline: bytes, ended: bool, cuts: list[int]
) -> None:
    stream = newline.join(lines) + (newline * 2 if ended else b"")
    whole = [(event.name, event.data) for event in iter_events(stream)]
    pieces = _incremental(stream, [cut % (len(stream) + 1) for cut in cuts])
    assert [(event.name, event.data) for event in pieces if event.data is not None or event.name] == [
        (name, data) for name, data in whole if data is not None or name
    ]
    assert b"".join(event.raw for event in pieces) == stream  # a filter passing events on loses nothing
    lf = b"\n".join(lines) + (b"\n\n" if ended else b"")
    assert list(iter_data(stream)) == list(iter_data(lf))


def test_a_cr_at_a_cut_waits_for_its_lf() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\r\n\r") == []  # the CR may be half of a CRLF
    events = parser.feed(b"\ndata: 2\r\n\r\n")
    assert [event.data for event in events] == [b"1", b"2"]
    assert parser.close() == []


def test_a_last_event_without_its_blank_line_counts() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\n\ndata: 2") == [SseEvent(b"1", b"", b"data: 1\n\n")]
    assert parser.close() == [SseEvent(b"2", b"", b"data: 2")]
    assert list(iter_data(b"data: 1\n\ndata: 2")) == [b"1", b"2"]


@given(_LINES, st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_events_read_backwards_are_the_events_in_reverse(lines: list[bytes], newline: bytes) -> None:
    stream = newline.join(lines)
    backwards = [(event.name, event.data) for event in iter_events(stream, backwards=True)]
    assert list(iter_data(stream, backwards=True)) == list(iter_data(stream))[::-1]
    assert [event for event in backwards if event != (b"", None)] == [
        (event.name, event.data) for event in iter_events(stream) if (event.name, event.data) != (b"", None)
    ][::-1]
