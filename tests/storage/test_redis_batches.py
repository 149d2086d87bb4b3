"""`Coalesced`: calls made while a batch is on its way go together in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sluicegate.storage import redis_batches
from sluicegate.storage.redis_batches import Coalesced


class Unavailable(Exception):
    """What a caller gets when its batch can no longer be sent."""


class Sender:
    """Records each batch; the first batch waits until `release` is set, so calls pile up behind it."""

    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[object]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()  # the first batch is on its way
        self.fail_on = fail_on

    async def __call__(self, items: Sequence[object]) -> list[str]:
        self.batches.append(list(items))
        self.started.set()
        if len(self.batches) == 1:
            await self.release.wait()
        if self.fail_on in items:
            raise ConnectionError(f"refused {self.fail_on}")
        return [f"sent {item}" for item in items]


async def test_a_lone_call_goes_at_once_as_a_batch_of_one() -> None:
    sender = Sender()
    sender.release.set()
    coalesced = Coalesced(sender, Unavailable)
    assert await coalesced("a") == "sent a"
    assert await coalesced("b") == "sent b"
    assert sender.batches == [["a"], ["b"]]


async def test_calls_made_while_a_batch_is_on_its_way_go_together_next() -> None:
    sender = Sender()
    coalesced = Coalesced(sender, Unavailable)
    first = asyncio.create_task(coalesced(1))
    await sender.started.wait()
    rest = [asyncio.create_task(coalesced(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    assert sender.batches == [[1]]  # the others wait for the first batch's answer
    sender.release.set()
    assert await asyncio.gather(first, *rest) == ["sent 1", "sent 2", "sent 3", "sent 4"]
    assert sender.batches == [[1], [2, 3, 4]]


async def test_a_failure_reaches_every_caller_of_its_batch_only() -> None:
    sender = Sender(fail_on=3)
    coalesced = Coalesced(sender, Unavailable)
    first = asyncio.create_task(coalesced(1))
    await sender.started.wait()
    second = [asyncio.create_task(coalesced(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    sender.release.set()
    await first
    for call in second:
        with pytest.raises(ConnectionError, match="refused 3"):
            await call
    await coalesced(5)  # the next batch goes as usual
    assert sender.batches == [[1], [2, 3], [5]]


@pytest.mark.parametrize(("drop_abandoned", "second"), [(False, [2, 3]), (True, [3])])
async def test_a_cancelled_callers_item_stays_in_the_batch_unless_abandoned_ones_are_dropped(
    drop_abandoned: bool, second: list[int]
) -> None:
    sender = Sender()
    coalesced = Coalesced(sender, Unavailable, drop_abandoned=drop_abandoned)
    first = asyncio.create_task(coalesced(1))
    await sender.started.wait()
    gone, kept = asyncio.create_task(coalesced(2)), asyncio.create_task(coalesced(3))
    await asyncio.sleep(0)
    gone.cancel()
    sender.release.set()
    await asyncio.gather(first, kept)
    assert gone.cancelled()
    assert sender.batches == [[1], second]


async def test_batches_are_capped_by_count_and_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_batches, "MAX_ITEMS", 3)
    monkeypatch.setattr(redis_batches, "MAX_BYTES", 10)
    sender = Sender()
    coalesced: Coalesced[str, str] = Coalesced(sender, Unavailable, size=len)
    first = asyncio.create_task(coalesced("x"))
    await sender.started.wait()
    items = ["a", "b", "c", "d", "eeeeeeee", "ffff", "g" * 20]
    calls = [asyncio.create_task(coalesced(item)) for item in items]
    await asyncio.sleep(0)
    sender.release.set()
    await asyncio.gather(first, *calls)
    # three at most; at most 10 bytes unless one item alone is larger
    assert sender.batches == [["x"], ["a", "b", "c"], ["d", "eeeeeeee"], ["ffff"], ["g" * 20]]


async def test_flush_waits_for_every_item_given() -> None:
    sender = Sender()
    coalesced = Coalesced(sender, Unavailable)
    calls = [asyncio.create_task(coalesced(n)) for n in range(3)]
    await sender.started.wait()
    flushed = asyncio.create_task(coalesced.flush())
    await asyncio.sleep(0)
    assert not flushed.done()
    sender.release.set()
    await flushed
    assert [item for batch in sender.batches for item in batch] == [0, 1, 2]
    assert all(call.done() for call in calls)


async def test_a_sender_cancelled_at_shutdown_leaves_no_caller_waiting() -> None:
    """The task that sends what was queued behind a call is cancelled before its first step (as a
    shutdown cancels every task left): its callers get the feature's own error, and `flush` does
    not hang."""
    batches: list[list[int]] = []
    release, started = asyncio.Event(), asyncio.Event()

    async def send(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        started.set()
        if len(batches) == 1:
            await release.wait()
            # Runs after this call's caller has handed the queue to a task, before that task starts.
            asyncio.get_running_loop().call_soon(lambda: coalesced._sending and coalesced._sending.cancel())
        return list(items)

    coalesced: Coalesced[int, int] = Coalesced(send, Unavailable)
    first = asyncio.create_task(coalesced(1))
    await started.wait()
    queued = asyncio.create_task(coalesced(2))
    await asyncio.sleep(0)
    release.set()
    assert await first == 1
    await asyncio.wait_for(coalesced.flush(), timeout=5)
    with pytest.raises(Unavailable, match="stopping"):
        await queued
    assert batches == [[1]]


async def test_a_sender_cancelled_while_sending_gives_its_callers_the_features_error() -> None:
    calls: list[list[int]] = []
    entered = [asyncio.Event(), asyncio.Event()]
    gate = asyncio.Event()  # never set: every batch stays on its way

    async def send(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        entered[len(calls) - 1].set()
        await gate.wait()
        return list(items)

    coalesced: Coalesced[int, int] = Coalesced(send, Unavailable)
    first = asyncio.create_task(coalesced(1))
    await entered[0].wait()
    queued = [asyncio.create_task(coalesced(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    first.cancel()  # the leader goes; 2 and 3 go on a task of their own
    with pytest.raises(asyncio.CancelledError):
        await first
    await entered[1].wait()
    sending = coalesced._sending
    assert sending is not None
    sending.cancel()  # as a shutdown cancels every task left
    for call in queued:
        with pytest.raises(Unavailable, match="stopping"):
            await call
    await asyncio.wait_for(coalesced.flush(), timeout=5)
    assert calls == [[1], [2, 3]]


async def test_results_that_do_not_match_the_batch_fail_its_callers() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return []

    coalesced: Coalesced[int, int] = Coalesced(short, Unavailable)
    with pytest.raises(IndexError):  # alone, the caller reads its own result
        await coalesced(1)
    sender = Sender()
    batched: Coalesced[object, str] = Coalesced(sender, Unavailable)
    first = asyncio.create_task(batched(1))
    await sender.started.wait()
    sender_calls = [asyncio.create_task(batched(n)) for n in (2, 3)]
    await asyncio.sleep(0)

    async def one_short(items: Sequence[object]) -> list[str]:
        return ["only one"]

    batched._send = one_short  # the next batch's answer has one result for two items
    sender.release.set()
    await first
    for call in sender_calls:
        with pytest.raises(RuntimeError, match="1 results for a batch of 2"):
            await call


async def test_an_items_own_error_is_raised_for_its_caller_alone() -> None:
    async def send(items: Sequence[object]) -> list[object]:
        return [Unavailable(f"no {item}") if item in (1, 3) else f"sent {item}" for item in items]

    coalesced = Coalesced(send, Unavailable)
    with pytest.raises(Unavailable, match="no 1"):  # alone, from the caller's own task
        await coalesced(1)
    answers = await asyncio.gather(*(coalesced(n) for n in (2, 3, 4)), return_exceptions=True)
    assert answers[0] == "sent 2"
    assert isinstance(answers[1], Unavailable)
    assert str(answers[1]) == "no 3"
    assert answers[2] == "sent 4"
