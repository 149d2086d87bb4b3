"""A log record as an export line and back: any record survives the trip, bad lines name the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.logformat import RecordFormatError, parse_record, record_line, record_object
from sluicegate.storage.base import LogRecord

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
maybe_int = st.none() | st.integers(0, 2**53)
bodies = (
    st.none()
    | st.binary(max_size=64)
    | st.text(max_size=32).map(str.encode)
    | st.binary(max_size=16).map(lambda b: b"base64:" + b)
)

records = st.builds(
    LogRecord,
    id=st.text(min_size=1, max_size=40),
    ts=finite,
    account=st.text(),
    gateway=st.text(),
    provider=st.text(),
    endpoint=st.text(),
    method=st.sampled_from(["GET", "POST"]),
    model=st.none() | st.text(),
    stream=st.booleans(),
    status=st.integers(100, 599),
    latency_ms=finite,
    ttfb_ms=st.none() | finite,
    tokens_in=maybe_int,
    tokens_out=maybe_int,
    cached_tokens=maybe_int,
    reasoning_tokens=maybe_int,
    usage_estimated=st.booleans(),
    cost_usd=st.none() | finite,
    cache_status=st.sampled_from(["", "HIT", "MISS", "BYPASS"]),
    cache_source=st.sampled_from(["", "exact", "semantic"]),
    cache_saved_ms=st.none() | finite,
    rate_limited=st.booleans(),
    semantic_hit=st.booleans(),
    error=st.none() | st.text(),
    metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    request_headers=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    request_body=bodies,
    response_body=bodies,
    step=st.none() | st.integers(0, 9),
    attempts=st.lists(st.dictionaries(st.text(max_size=5), json_scalars, max_size=3), max_size=2),
    degraded=st.none() | st.text(),
    feedback=st.sampled_from([None, -1, 0, 1]),
    score=st.none() | st.floats(0, 100),
)


@given(records)
def test_any_record_reads_back_as_it_was(record: LogRecord) -> None:
    line = record_line(record, cursor="c")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1  # one record, one line
    assert parse_record(orjson.loads(line), ignore=frozenset({"cursor"})) == record


def test_bodies_are_text_when_they_can_be_and_base64_when_not() -> None:
    record = LogRecord(
        id="1", ts=1.5, account="a", gateway="g", provider="p", endpoint="e", method="POST", model=None,
        stream=False, status=200, latency_ms=1.0, ttfb_ms=None,
        request_body='{"q": "héllo"}'.encode(), response_body=b"base64:aGk=",
    )  # fmt: skip
    shown = record_object(record)
    assert shown["request_body"] == '{"q": "héllo"}'
    # A text body that starts like an encoded one is encoded itself, so it reads back as written.
    assert shown["response_body"] == "base64:YmFzZTY0OmFHaz0="
    assert record_object(LogRecord(**{**shown, "request_body": b"\xff", "response_body": None}))[
        "request_body"
    ] == ("base64:/w==")


def a_line(**changes: Any) -> dict[str, Any]:
    record = LogRecord(
        id="1", ts=1.5, account="a", gateway="g", provider="p", endpoint="e", method="POST", model=None,
        stream=False, status=200, latency_ms=1.0, ttfb_ms=None,
    )  # fmt: skip
    return {**orjson.loads(record_line(record)), **changes}


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (a_line(status="200"), "field 'status' must be an integer, got a string"),
        (a_line(stream=1), "field 'stream' must be a boolean, got an integer"),
        (a_line(latency_ms=True), "field 'latency_ms' must be a number, got a boolean"),
        (a_line(model=["x"]), "field 'model' must be a string or null, got an array"),
        (a_line(metadata="x"), "field 'metadata' must be an object, got a string"),
        (a_line(request_body=3), "field 'request_body' must be a string or null, got an integer"),
        (a_line(request_body="base64:@@@"), "field 'request_body': base64:… holds no valid base64"),
        (a_line(tier="gold"), "unknown field 'tier': not a field of this version's log records"),
        ({k: v for k, v in a_line().items() if k != "ts"}, "field 'ts' is missing"),
        ([1, 2], "a log record is a JSON object, got an array"),
    ],
)
def test_a_line_that_is_no_record_names_the_field(line: Any, says: str) -> None:
    with pytest.raises(RecordFormatError) as refused:
        parse_record(line)
    assert str(refused.value).startswith(says), str(refused.value)


def test_a_record_from_an_older_export_takes_the_defaults() -> None:
    older = {k: v for k, v in a_line().items() if k not in ("feedback", "score", "degraded", "cache_source")}
    assert parse_record(older) == parse_record(a_line())
