"""The outcome step: one measurement per request, handed to every sink, settled before the answer ends."""

from __future__ import annotations

import asyncio

import pytest

from sluicegate.exchange import Exchange
from sluicegate.outcome import Outcome
from sluicegate.outcome.estimate import output_cap
from sluicegate.outcome.meter import Meter
from sluicegate.outcome.outcomes import Outcomes
from sluicegate.outcome.pricing import Pricing
from sluicegate.storage.limiter import Bucket, Hold
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.test_log import exchange

HOLD = Hold(Bucket("b", 100, 60, False, "tokens"), 10, 0.0, "")


def meter() -> Meter:
    return Meter(TokenCounter(), Pricing(PriceTable()))


async def test_a_failing_sink_does_not_starve_the_others(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def broken(ex: Exchange, outcome: Outcome) -> None:
        raise RuntimeError("sink bug")

    async def counting(ex: Exchange, outcome: Outcome) -> None:
        seen.append(ex.request.id)

    done = exchange()
    await Outcomes(meter(), [broken, counting]).complete(done)
    assert seen == [done.request.id]
    assert "an outcome sink failed" in caplog.text


async def test_settlement_holds_the_answer_and_a_cancelled_caller_stops_no_sink() -> None:
    entered, proceed, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    settled: list[str] = []
    logged: list[str] = []

    async def round_trip(ex: Exchange) -> None:
        entered.set()
        await proceed.wait()
        settled.append(ex.request.id)
        done.set()

    async def settle(ex: Exchange, outcome: Outcome) -> None:
        await asyncio.shield(round_trip(ex))  # as the Redis limiter shields its script

    async def log(ex: Exchange, outcome: Outcome) -> None:
        logged.append(ex.request.id)

    held = exchange()
    held.limits.holds = (HOLD,)
    caller = asyncio.create_task(Outcomes(meter(), [settle, log]).complete(held))
    await entered.wait()
    assert not caller.done()  # the answer waits for its reservations to settle
    caller.cancel()  # the client hangs up meanwhile
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert logged == [held.request.id]  # the record is not lost with the caller
    proceed.set()
    await asyncio.wait_for(done.wait(), 5)  # and the shielded round trip completes
    assert settled == [held.request.id]


@pytest.mark.parametrize(
    ("payload", "cap"),
    [
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 40, "max_tokens": 50}, 40),  # OpenAI's newer name wins
        ({"max_output_tokens": 30}, 30),  # Responses API
        ({"max_tokens": 20, "n": 3}, 60),  # three choices, each up to the cap
        ({"max_tokens": True}, None),
        ({"max_tokens": "50"}, None),
        ({}, None),
        ([1, 2], None),
    ],
)
def test_output_cap(payload: object, cap: int | None) -> None:
    assert output_cap(payload) == cap
