"""The log stage records every outcome exactly once: answers, errors, bugs, streams, hang-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import UpstreamTimeout
from sluicegate.exchange import Exchange, IncomingRequest, Reply
from sluicegate.logbook import Logbook
from sluicegate.outcome import Outcome
from sluicegate.outcome.meter import Meter
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline.log import CLIENT_GONE, LOG_ID_HEADER, Log, ends_stream
from sluicegate.providers.base import Route
from sluicegate.storage.base import LogQuery, LogRecord
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter


class ListSink:
    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    async def write_logs(self, records: list[LogRecord]) -> None:
        self.records.extend(records)

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        return self.records

    async def get_log(self, account: str, log_id: str) -> LogRecord | None:
        return None


def summary(exchange: Exchange, outcome: Outcome) -> LogRecord:
    request, response = exchange.request, exchange.response
    return LogRecord(
        id=request.id, ts=request.received_at, account=request.account, gateway=request.gateway_slug,
        provider=request.provider_name, endpoint=request.route.path, method=request.method, model=None,
        stream=response.streamed, status=response.status, latency_ms=0, ttfb_ms=None, error=response.error,
    )  # fmt: skip


def exchange() -> Exchange:
    async def no_body() -> bytes:
        return b""

    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    route = Route("local", "chat/completions")
    return Exchange(IncomingRequest("default", "openai", route, "POST", headers, no_body))


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def logbook(sink: ListSink) -> Logbook:
    return Logbook(sink, summary, batch_size=100, interval=60)


@pytest.fixture
def outcomes(logbook: Logbook) -> Outcomes:
    return Outcomes(Meter(TokenCounter(), Pricing(PriceTable())), [logbook.take])


@pytest.fixture
def stage(outcomes: Outcomes) -> Log:
    return Log(outcomes, tee_limit=10)


async def test_a_plain_answer_is_recorded_with_its_log_id(
    stage: Log, logbook: Logbook, sink: ListSink
) -> None:
    async def answer(ex: Exchange) -> Reply:
        return Reply(201, CIMultiDict(), body=b"{}")

    ex = exchange()
    reply = await stage(ex, answer)
    await logbook.flush()
    assert reply.headers[LOG_ID_HEADER] == ex.request.id
    assert [(r.id, r.status, r.error) for r in sink.records] == [(ex.request.id, 201, None)]


async def test_gateway_errors_become_json_answers(stage: Log, logbook: Logbook, sink: ListSink) -> None:
    async def times_out(ex: Exchange) -> Reply:
        raise UpstreamTimeout("no answer within 1 s")

    reply = await stage(exchange(), times_out)
    await logbook.flush()
    assert reply.status == 504
    assert b'"code":"upstream_timeout"' in reply.body
    assert [(r.status, r.error) for r in sink.records] == [(504, "no answer within 1 s")]


async def test_a_bug_is_a_500_and_still_recorded(
    stage: Log, logbook: Logbook, sink: ListSink, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ex: Exchange) -> Reply:
        raise KeyError("oops")

    reply = await stage(exchange(), broken)
    await logbook.flush()
    assert reply.status == 500
    assert b"internal gateway error" in reply.body
    assert sink.records[0].error == "internal error: KeyError"
    assert "unhandled error" in caplog.text


async def test_a_stream_is_recorded_when_it_ends_keeping_its_tail(
    stage: Log, logbook: Logbook, sink: ListSink
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"aaaa", b"bbbb", b"cccc"):
            yield chunk

    async def streams(ex: Exchange) -> Reply:
        return Reply(200, CIMultiDict(), stream=chunks())

    ex = exchange()
    reply = await stage(ex, streams)
    assert reply.stream is not None
    assert sink.records == []
    assert [chunk async for chunk in reply.stream] == [b"aaaa", b"bbbb", b"cccc"]
    await logbook.flush()
    assert len(sink.records) == 1
    assert ex.response.body == b"bbbbcccc"  # the tee keeps the last `tee_limit` bytes, whole chunks
    assert ex.timings.first_byte_at is not None


async def test_a_stream_closed_early_is_a_client_hang_up(
    stage: Log, outcomes: Outcomes, logbook: Logbook, sink: ListSink
) -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x"
        finally:
            closed.set()

    async def streams(ex: Exchange) -> Reply:
        return Reply(200, CIMultiDict(), stream=endless())

    reply = await stage(exchange(), streams)
    assert reply.stream is not None
    iterator = reply.stream.__aiter__()
    await iterator.__anext__()
    await iterator.aclose()  # type: ignore[attr-defined]
    await outcomes.close()  # a closed stream is completed in the background
    await logbook.flush()
    assert closed.is_set()  # the upstream side was closed too
    assert [r.error for r in sink.records] == [CLIENT_GONE]


async def test_cancellation_before_the_answer_is_recorded_as_499(
    stage: Log, outcomes: Outcomes, logbook: Logbook, sink: ListSink
) -> None:
    started = asyncio.Event()

    async def waits(ex: Exchange) -> Reply:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.create_task(stage(exchange(), waits))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await outcomes.close()
    await logbook.flush()
    assert [(r.status, r.error) for r in sink.records] == [(499, CLIENT_GONE)]


@pytest.mark.parametrize(
    ("data", "ends"),
    [
        (b'data: {"choices":[]}\n\ndata: [DONE]\n\n', True),
        (b"data: [DONE]\n\n", True),
        (b"event: response.completed\ndata: {}\n\n", True),
        (b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n', True),
        (b'data: {"choices":[{"delta":{"content":"data: [DONE]"}}]}\n\n', False),  # said by the model
        (b'data: {"choices":[]}\n\n', False),
    ],
)
def test_end_markers_count_only_at_the_start_of_a_line(data: bytes, ends: bool) -> None:
    assert ends_stream(data) is ends


async def test_a_stream_closed_before_its_first_chunk_is_still_recorded(
    stage: Log, outcomes: Outcomes, logbook: Logbook, sink: ListSink
) -> None:
    async def never_read() -> AsyncIterator[bytes]:
        yield b"unsent"

    async def streams(ex: Exchange) -> Reply:
        return Reply(200, CIMultiDict(), stream=never_read())

    reply = await stage(exchange(), streams)
    assert reply.stream is not None
    await reply.stream.aclose()  # the client left while the headers were being written
    await outcomes.close()
    await logbook.flush()
    assert [r.error for r in sink.records] == [CLIENT_GONE]
