"""The in-process store of jobs already counted: first claim wins, for `ttl`, at most `max_keys`."""

from __future__ import annotations

from sluicegate.storage.counted_once import MemoryCounted


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_first_claim_wins_until_it_expires() -> None:
    clock = Clock()
    counted = MemoryCounted(ttl=10, clock=clock)
    assert await counted.claim("replicate/p1", "log-a") is None
    assert await counted.claim("replicate/p1", "log-b") == "log-a"
    assert await counted.claim("replicate/p2", "log-c") is None
    clock.now = 10.0  # a day later, by default: the prediction's tokens would be counted again
    assert await counted.claim("replicate/p1", "log-d") is None


async def test_at_most_max_keys_are_kept_oldest_first_out() -> None:
    counted = MemoryCounted(max_keys=2, clock=Clock())
    for job in ("p1", "p2", "p3"):
        assert await counted.claim(job, f"log-{job}") is None
    assert await counted.claim("p3", "x") == "log-p3"
    assert await counted.claim("p2", "x") == "log-p2"
    assert await counted.claim("p1", "x") is None  # forgotten to keep the bound


async def test_who_claimed_a_job_is_told_without_claiming_it() -> None:
    clock = Clock()
    counted = MemoryCounted(ttl=10, clock=clock)
    assert await counted.claimed("replicate/p1") is None
    assert await counted.claim("replicate/p1", "log-a") is None  # asking claimed nothing
    assert await counted.claimed("replicate/p1") == "log-a"
    clock.now = 10.0
    assert await counted.claimed("replicate/p1") is None  # expired
