"""The gateway's own reads of a job an answer left running (pipeline/jobs.py), against a scripted
Replicate in process: what is read, with what, how often, when it stops, and what is handed out."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict

from sluicegate.exchange import ClientOptions, Exchange, Step
from sluicegate.outcome import Outcome
from sluicegate.outcome.meter import Meter
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline.forward import Forwarder
from sluicegate.pipeline.jobs import Pace, RunningJobs
from sluicegate.providers.base import Route
from sluicegate.providers.replicate import REPLICATE
from sluicegate.storage.counted_once import MemoryCounted
from sluicegate.storage.limiter import Bucket, Hold
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter
from tests.fakes.in_process import InProcessTransport
from tests.pipeline.stage_parts import make_exchange, make_gateway

ORIGIN = "http://replicate.test"
MODEL = "meta/meta-llama-3-8b-instruct"
QUICK = Pace(first_s=0.001, most_apart_s=0.004, reads=5, within_s=30, watched=10, read_timeout_s=5)
HOLD = Hold(Bucket("tokens", 1000, 60, False, "tokens"), 0, 0.0, "")


def prediction(job: str, status: str) -> dict[str, object]:
    finished = {"metrics": {"input_token_count": 6, "output_token_count": 7}} if status == "succeeded" else {}
    return {"id": job, "model": MODEL, "status": status, "output": None, **finished}


class Script:
    """A Replicate that answers each read of a prediction with the next of `answers` (then the last):
    a status, or an HTTP error status. It records every read."""

    def __init__(self, *answers: str | int) -> None:
        self.answers = list(answers)
        self.reads: list[web.Request] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/predictions/{id}", self._read)
        return app

    async def _read(self, request: web.Request) -> web.Response:
        self.reads.append(request)
        answer = self.answers[min(len(self.reads), len(self.answers)) - 1]
        if isinstance(answer, int):
            return web.json_response({"title": "Not found", "status": answer}, status=answer)
        return web.json_response(prediction(request.match_info["id"], answer))


class Recorded:
    """The outcome sink: what was handed out, with the reservations it came with."""

    def __init__(self) -> None:
        self.handed: list[tuple[Exchange, Outcome]] = []

    async def __call__(self, exchange: Exchange, outcome: Outcome) -> None:
        self.handed.append((exchange, outcome))


@pytest.fixture
def sink() -> Recorded:
    return Recorded()


@pytest.fixture
def outcomes(sink: Recorded) -> Outcomes:
    return Outcomes(Meter(TokenCounter(), Pricing(PriceTable())), [sink], MemoryCounted())


def jobs(script: Script, outcomes: Outcomes, pace: Pace = QUICK) -> RunningJobs:
    forwarder = Forwarder(InProcessTransport({ORIGIN: script.app()}), {"replicate": ORIGIN + "/v1"}, 5)

    async def reserve(exchange: Exchange) -> tuple[Hold, ...]:
        return (HOLD,)

    return RunningJobs(forwarder, outcomes, reserve, pace)


def created(job: str = "p1", status: str = "starting") -> Exchange:
    """A create's exchange as the Log stage completes it: answered 201, the prediction running."""
    exchange = make_exchange(f"models/{MODEL}/predictions", provider="replicate", gateway=make_gateway())
    route, body = Route("local", f"models/{MODEL}/predictions"), b'{"input": {"prompt": "hi"}}'
    headers = CIMultiDict(
        {"Authorization": "Token r8_key", "Content-Type": "application/json", "Prefer": "wait=5"}
    )
    exchange.plan.steps = [Step(REPLICATE, route, headers, body, REPLICATE.read_request(route, body))]
    exchange.options = ClientOptions(metadata={"user": "ada"}, collect_payload=False)
    exchange.response.status, exchange.response.body = 201, orjson.dumps(prediction(job, status))
    return exchange


async def finished(reader: RunningJobs) -> None:
    """Until every job's reading has ended by itself (the reading tasks: this test's only others)."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.wait_for(asyncio.gather(*others), 5)
    assert reader.watching == 0


async def test_a_finished_read_is_handed_out_as_a_get_with_the_creates_credentials(
    outcomes: Outcomes, sink: Recorded
) -> None:
    script = Script("processing", "succeeded")
    reader = jobs(script, outcomes)
    answered = created()
    reader.watch(answered)
    assert reader.watching == 1
    await finished(reader)
    assert [dict(read.headers).get("Authorization") for read in script.reads] == ["Token r8_key"] * 2
    assert all("Prefer" not in read.headers and "Content-Type" not in read.headers for read in script.reads)
    [(read, outcome)] = sink.handed
    assert (read.request.method, read.request.route.path, read.response.status) == (
        "GET",
        "predictions/p1",
        200,
    )
    assert outcome.usage is not None
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens, outcome.usage.job) == (6, 7, "p1")
    assert read.limits.holds == (HOLD,)  # its reservations of nothing, for the budget sink to settle
    assert read.options.metadata == {
        "user": "ada",
        "usage_read_by": "gateway",
        "usage_read_for": answered.request.id,
    }
    assert read.options.collect_payload is False  # the create's options
    assert read.gateway is answered.gateway


async def test_the_reads_of_a_job_that_never_finishes_end_at_their_bound(
    outcomes: Outcomes, sink: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script("processing")
    reader = jobs(script, outcomes)
    reader.watch(created())
    await finished(reader)
    assert len(script.reads) == QUICK.reads
    assert sink.handed == []
    assert "was still running after 5 reads" in caplog.text


async def test_a_refusal_that_will_not_change_ends_the_reads_and_one_that_may_is_read_again(
    outcomes: Outcomes, sink: Recorded
) -> None:
    gone, flaky = Script(404, "succeeded"), Script(503, 429, "succeeded")
    for script in (gone, flaky):
        reader = jobs(script, outcomes)
        reader.watch(created())
        await finished(reader)
    assert (len(gone.reads), len(flaky.reads)) == (1, 3)
    assert len(sink.handed) == 1  # the flaky one's


async def test_a_job_a_client_read_counted_is_not_read(outcomes: Outcomes, sink: Recorded) -> None:
    # A client's poll that found it finished and counted it, before the gateway's first read.
    poll = created()
    poll.response.status, poll.response.body = 200, orjson.dumps(prediction("p1", "succeeded"))
    poll.plan.steps[0].route = Route("local", "v1/predictions/p1")
    poll.limits.holds = (HOLD,)  # (so its outcome is handed out before `complete` returns)
    await outcomes.complete(poll)
    script = Script("succeeded")
    reader = jobs(script, outcomes)
    reader.watch(created())
    await finished(reader)
    assert script.reads == []  # it asked whether the job was counted, before its first read
    assert [exchange for exchange, _ in sink.handed] == [poll]


async def test_one_reader_per_job_and_at_most_watched_jobs(
    outcomes: Outcomes, caplog: pytest.LogCaptureFixture
) -> None:
    reader = jobs(Script("processing"), outcomes, Pace(first_s=60, watched=2))
    reader.watch(created("p1"))
    reader.watch(created("p1", "processing"))  # a poll of the same job
    reader.watch(created("p2"))
    reader.watch(created("p3"))
    reader.watch(created("p4"))
    assert reader.watching == 2
    assert caplog.text.count("jobs are being read already") == 1
    await reader.close()
    # Neither a finished answer, nor an error, nor another provider's answer is read.
    reader = jobs(Script("processing"), outcomes, Pace(first_s=60))
    done, refused = created("p5", "succeeded"), created("p6")
    refused.response.status = 422
    reader.watch(done)
    reader.watch(refused)
    assert reader.watching == 0


async def test_a_close_ends_every_reading_at_once(outcomes: Outcomes) -> None:
    reader = jobs(Script("processing"), outcomes, Pace(first_s=60))
    reader.watch(created("p1"))
    reader.watch(created("p2"))
    async with asyncio.timeout(1):
        await reader.close()
    assert reader.watching == 0
    reader.watch(created("p3"))  # none begins once closed
    assert reader.watching == 0
