"""The gateway's own reads of a job an answer left running (pipeline/jobs.py), against a scripted
Replicate in process: what is read, with what, how often, when it stops, and what is handed out."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref

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


# An answer's status that ends with this: the prediction, with logs that make it larger than the
# gateway reads whole (1 MiB).
LARGE = "+large"


def prediction(job: str, status: str, streams: bool = True) -> dict[str, object]:
    """A prediction as Replicate shows it; `streams`: a language model's, whose output streams."""
    finished = {"metrics": {"input_token_count": 6, "output_token_count": 7}} if status == "succeeded" else {}
    urls = {"get": f"{ORIGIN}/v1/predictions/{job}"}
    if streams:
        urls["stream"] = f"https://stream.replicate.test/v1/files/{job}"
    return {"id": job, "model": MODEL, "status": status, "output": None, **finished, "urls": urls}


class Script:
    """A Replicate that answers each read of a prediction with the next of `answers` (then the last):
    a status (ending with `LARGE`: a larger answer than the gateway reads whole), or an HTTP error
    status. It records every read."""

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
        answered = prediction(request.match_info["id"], answer.removesuffix(LARGE))
        if answer.endswith(LARGE):
            answered = {"logs": "x" * (2 << 20), **answered}
        return web.json_response(answered)


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


def jobs(script: Script, outcomes: Outcomes, pace: Pace = QUICK, processes: int = 1) -> RunningJobs:
    forwarder = Forwarder(InProcessTransport({ORIGIN: script.app()}), {"replicate": ORIGIN + "/v1"}, 5)

    def reserve(exchange: Exchange) -> tuple[Hold, ...]:
        return (HOLD,)

    return RunningJobs(forwarder, outcomes, reserve, pace, processes=processes)


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
    reader.watch(created("p1", "processing"))  # the same job's create answered again
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


class Shared(MemoryCounted):
    """Counted-once claims every process sees, as Redis's are (in process, for the test)."""

    shared = True


def counted(sink: Recorded) -> list[int]:
    return [outcome.usage.total_tokens for _, outcome in sink.handed if outcome.usage is not None]


def finished_poll(job: str = "p1") -> Exchange:
    """A client's read of a finished prediction, as the Log stage completes it."""
    poll = created(job)
    poll.response.status, poll.response.body = 200, orjson.dumps(prediction(job, "succeeded"))
    poll.plan.steps[0].route = Route("local", f"v1/predictions/{job}")
    poll.limits.holds = (HOLD,)  # (so its outcome is handed out before `complete` returns)
    return poll


async def test_workers_that_count_apart_read_no_job_and_count_it_once() -> None:
    # `serve --workers 2` without Redis: each worker's claims are its own.
    sink_a, sink_b = Recorded(), Recorded()
    meter = Meter(TokenCounter(), Pricing(PriceTable()))
    worker_a, worker_b = (
        Outcomes(meter, [sink_a], MemoryCounted()),
        Outcomes(meter, [sink_b], MemoryCounted()),
    )
    script = Script("processing", "succeeded")
    reader = jobs(script, worker_a, processes=2)
    reader.watch(created("p1"))  # worker A relayed the create
    assert reader.watching == 0
    await worker_b.complete(finished_poll("p1"))  # the client's poll reached worker B: counted there
    await finished(reader)
    assert (counted(sink_a), counted(sink_b), script.reads) == ([], [13], [])
    # Claims every worker sees (Redis): the worker that relayed the create reads it.
    shared = Outcomes(meter, [sink_a], Shared())
    reader = jobs(script, shared, processes=2)
    reader.watch(created("p2"))
    assert reader.watching == 1
    await finished(reader)
    assert counted(sink_a) == [13]


class Held:
    """Stands in for the aiohttp request behind a create's `read_body`, which keeps its body."""

    def __init__(self) -> None:
        self.body = b'{"input": {"image": "data:image/png;base64,' + b"A" * 1000 + b'"}}'


def watched_create(reader: RunningJobs) -> tuple[weakref.ref[Held], str]:
    """Hands `reader` a create whose request reads its body from a `Held`: a reference to that, and
    the create's log id."""
    held = Held()

    async def read_body() -> bytes:  # as the endpoint's reader holds aiohttp's request
        return held.body

    answered = created("p1")
    answered.request = dataclasses.replace(answered.request, read_body=read_body)
    reader.watch(answered)
    return weakref.ref(held), answered.request.id


async def test_a_watched_job_keeps_nothing_of_the_creates_request(outcomes: Outcomes, sink: Recorded) -> None:
    reader = jobs(Script("processing", "succeeded"), outcomes, Pace(first_s=0.05, reads=3, watched=10))
    alive, created_id = watched_create(reader)
    gc.collect()
    assert reader.watching == 1
    assert alive() is None
    await finished(reader)
    [(read, _)] = sink.handed
    assert read.options.metadata["usage_read_for"] == created_id


async def test_only_the_creates_of_predictions_that_stream_are_read(outcomes: Outcomes) -> None:
    reader = jobs(Script("processing"), outcomes, Pace(first_s=60))
    image = created("p1")  # an image model's: its finished read reports no tokens
    image.response.body = orjson.dumps(prediction("p1", "starting", streams=False))
    training = created("t1")  # a training's create answers as a prediction's does
    training.plan.steps[0].route = Route("local", f"models/{MODEL}/versions/v1/trainings")
    poll = created("p2", "processing")  # a client's poll, which reads it itself
    poll.request = dataclasses.replace(poll.request, method="GET")
    poll.plan.steps[0].route = Route("local", "v1/predictions/p2")
    for answer in (image, training, poll):
        reader.watch(answer)
    assert reader.watching == 0
    reader.watch(created("p3"))
    assert reader.watching == 1
    await reader.close()


async def test_an_answer_larger_than_read_whole_is_no_finished_job(
    outcomes: Outcomes, sink: Recorded
) -> None:
    script = Script("succeeded" + LARGE, "succeeded")
    reader = jobs(script, outcomes)
    reader.watch(created())
    await finished(reader)
    assert len(script.reads) == 2  # the first told nothing: read again
    assert counted(sink) == [13]


async def test_one_that_only_ever_answers_larger_ends_at_the_bound_saying_so(
    outcomes: Outcomes, sink: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script("processing" + LARGE)
    reader = jobs(script, outcomes)
    reader.watch(created())
    await finished(reader)
    assert (len(script.reads), sink.handed) == (QUICK.reads, [])
    assert "answered larger than the gateway reads whole after 5 reads" in caplog.text


async def test_the_read_runs_under_the_creates_model(outcomes: Outcomes, sink: Recorded) -> None:
    # `model`-scoped rules count the read under the step's model, as they counted the create.
    reserved: list[str | None] = []

    def reserve(exchange: Exchange) -> tuple[Hold, ...]:
        reserved.append(exchange.facts.model)
        return (HOLD,)

    script = Script("succeeded")
    reader = jobs(script, outcomes)
    reader._reserve = reserve
    reader.watch(created())
    await finished(reader)
    [(read, outcome)] = sink.handed
    assert (reserved, read.facts.model) == ([MODEL], MODEL)
    assert outcome.usage is not None
    assert outcome.usage.total_tokens == 13
