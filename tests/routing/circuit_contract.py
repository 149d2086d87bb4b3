"""The circuit breaker over the state store (`store`, or `make_store` for replicas sharing it):
closed → open after N failures in a window → half-open probe → closed.

Not collected itself: test_circuit.py runs every test here on the in-process store (conftest.py),
tests/integration/backends/test_redis_routing_state.py on Redis, with the slow tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sluicegate.routing.circuit import BreakerPolicy, Circuit, CircuitBreaker, CircuitState
from sluicegate.routing.state import StateStore
from tests.conftest import FakeClock

POLICY = BreakerPolicy(failures=3, window=10, cooldown=30, probe_timeout=5)
TARGET = "local/default/openai/gpt-4o"


@pytest.fixture
def breaker(store: StateStore, clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(store, POLICY, clock)


async def fail(breaker: CircuitBreaker, times: int = 1, target: str = TARGET) -> Circuit:
    circuit = Circuit()
    for _ in range(times):
        permit = await breaker.allow(target)
        assert permit.allowed
        circuit = await breaker.record(target, permit, ok=False)
    return circuit


async def test_failures_within_the_window_open_the_circuit(breaker: CircuitBreaker, clock: FakeClock) -> None:
    assert (await fail(breaker, 2)).state is CircuitState.CLOSED
    clock.advance(9)
    opened = await fail(breaker)
    assert opened.state is CircuitState.OPEN
    refused = await breaker.allow(TARGET)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(30)
    assert (await breaker.circuits([TARGET, "other"])) == {TARGET: opened, "other": Circuit()}


async def test_failures_older_than_the_window_do_not_count(breaker: CircuitBreaker, clock: FakeClock) -> None:
    await fail(breaker, 2)
    clock.advance(10.5)
    assert (await fail(breaker, 2)).state is CircuitState.CLOSED
    assert (await fail(breaker)).state is CircuitState.OPEN


async def test_successes_pass_without_a_write_and_do_not_erase_failures(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    await fail(breaker, 2)
    for _ in range(5):
        permit = await breaker.allow(TARGET)
        assert (await breaker.record(TARGET, permit, ok=True)).state is CircuitState.CLOSED
    assert (await fail(breaker)).state is CircuitState.OPEN


async def test_after_the_cooldown_one_probe_goes_and_its_success_closes(
    make_store: Callable[[], StateStore], clock: FakeClock
) -> None:
    one, two = CircuitBreaker(make_store(), POLICY, clock), CircuitBreaker(make_store(), POLICY, clock)
    await fail(one, 3)
    assert not (await two.allow(TARGET)).allowed  # the other replica sees the open circuit
    clock.advance(30)
    permits = await asyncio.gather(one.allow(TARGET), two.allow(TARGET), one.allow(TARGET))
    assert sorted(p.allowed for p in permits) == [False, False, True]  # one probe across replicas
    probe = next(p for p in permits if p.allowed)
    assert probe.probe
    assert probe.circuit.state is CircuitState.HALF_OPEN
    assert (await one.record(TARGET, probe, ok=True)).state is CircuitState.CLOSED
    assert (await two.allow(TARGET)).allowed
    assert await two.circuits([TARGET]) == {TARGET: Circuit()}


async def test_a_failed_probe_opens_the_circuit_for_another_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    await fail(breaker, 3)
    clock.advance(30)
    probe = await breaker.allow(TARGET)
    assert (await breaker.record(TARGET, probe, ok=False)).state is CircuitState.OPEN
    clock.advance(29)
    assert not (await breaker.allow(TARGET)).allowed
    clock.advance(1)
    assert (await breaker.allow(TARGET)).probe


async def test_a_probe_that_never_reports_frees_its_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    await fail(breaker, 3)
    clock.advance(30)
    assert (await breaker.allow(TARGET)).probe
    clock.advance(4)
    assert not (await breaker.allow(TARGET)).allowed
    clock.advance(1)
    assert (await breaker.allow(TARGET)).probe


async def test_only_the_probe_decides_a_half_open_circuit(breaker: CircuitBreaker, clock: FakeClock) -> None:
    early = await breaker.allow(TARGET)  # let through while closed, finishing late
    await fail(breaker, 3)
    clock.advance(30)
    probe = await breaker.allow(TARGET)
    assert (await breaker.record(TARGET, early, ok=False)).state is CircuitState.HALF_OPEN
    assert (await breaker.record(TARGET, probe, ok=True)).state is CircuitState.CLOSED


async def test_circuits_are_per_target(breaker: CircuitBreaker) -> None:
    await fail(breaker, 3)
    assert (await breaker.allow("local/default/anthropic/claude")).allowed
