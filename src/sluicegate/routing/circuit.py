"""Circuit breaking per target: a target that keeps failing is skipped for a while, then probed.

    closed ──(`failures` failures within `window` s)──► open
    open ──(`cooldown` s later, the next request is the probe)──► half-open
    half-open ──probe succeeds──► closed        half-open ──probe fails──► open (another cooldown)

While half-open only the probe goes through; a probe that never reports (its request was
cancelled) frees the slot after `probe_timeout`. Successes do not erase failures: they age out of
the window. The transitions are pure functions over `Circuit` values; `CircuitBreaker` applies
them through a `StateStore`, so every replica sees the same circuit.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sluicegate.routing.state import Change, Record, StateStore


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 5  # failures within `window` that open the circuit
    window: float = 60.0  # seconds
    cooldown: float = 30.0  # seconds open before a probe is let through
    probe_timeout: float = 30.0  # seconds a probe holds the half-open slot at most

    def __post_init__(self) -> None:
        if self.failures < 1 or min(self.window, self.cooldown, self.probe_timeout) <= 0:
            raise ValueError("a breaker needs failures >= 1 and positive window, cooldown and probe_timeout")


@dataclass(frozen=True, slots=True)
class Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: tuple[float, ...] = ()  # when the recent failures happened (closed)
    until: float = 0.0  # open: when a probe may go; half-open: when the probe's slot frees

    @classmethod
    def from_record(cls, record: Record | None) -> Circuit:
        if record is None:
            return CLOSED
        return cls(CircuitState(record["state"]), tuple(record.get("failures", ())), record.get("until", 0.0))

    def to_record(self) -> Record:
        return {"state": self.state.value, "failures": list(self.failures), "until": self.until}


CLOSED = Circuit()


class Permit(NamedTuple):
    """Whether a request may go to the target now. Hand it back to `record` with the outcome."""

    allowed: bool
    circuit: Circuit  # as it stood when deciding
    probe: bool = False  # this request is the half-open probe: its outcome closes or reopens
    retry_after: float = 0.0  # refused: seconds until a probe may go


def admit(circuit: Circuit, policy: BreakerPolicy, now: float) -> tuple[Permit, Circuit | None]:
    """The permit, and the circuit's new value when deciding changes it (a probe starts)."""
    if circuit.state is CircuitState.CLOSED:
        return Permit(True, circuit), None
    if now < circuit.until:
        return Permit(False, circuit, retry_after=circuit.until - now), None
    probing = Circuit(CircuitState.HALF_OPEN, (), now + policy.probe_timeout)
    return Permit(True, probing, probe=True), probing


def settle(circuit: Circuit, ok: bool, probe: bool, policy: BreakerPolicy, now: float) -> Circuit | None:
    """The circuit after a request's outcome, or None when the outcome changes nothing."""
    if circuit.state is CircuitState.HALF_OPEN:
        if not probe:
            return None  # a request let through before the circuit opened: only the probe decides
        return CLOSED if ok else Circuit(CircuitState.OPEN, (), now + policy.cooldown)
    if circuit.state is CircuitState.OPEN or ok:
        return None
    recent = (*(t for t in circuit.failures if t > now - policy.window), now)
    if len(recent) >= policy.failures:
        return Circuit(CircuitState.OPEN, (), now + policy.cooldown)
    return Circuit(CircuitState.CLOSED, recent, 0.0)


def counts_as_failure(status: int | None) -> bool:
    """No response (refused, reset, timed out) or a 5xx. A 429 is the provider limiting a key,
    which the key pool handles; other 4xx are the request's fault, not the target's."""
    return status is None or status >= 500


class CircuitBreaker:
    def __init__(
        self,
        store: StateStore,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.time,
        prefix: str = "circuit:",
    ) -> None:
        self._store = store
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._prefix = prefix

    async def allow(self, target: str) -> Permit:
        """One read when the circuit is closed or still cooling down; an atomic update when a
        probe may start (so two replicas cannot both send one)."""
        now = self._clock()
        (record,) = await self._store.read([self._prefix + target], now)
        permit, changed = admit(Circuit.from_record(record), self.policy, now)
        if changed is None:
            return permit
        decided: list[Permit] = []

        def start_probe(current: Record | None) -> Change | None:
            permit, changed = admit(Circuit.from_record(current), self.policy, now)
            decided.append(permit)
            return None if changed is None else self._change(changed)

        await self._store.update(self._prefix + target, start_probe, now)
        return decided[-1]

    async def record(self, target: str, permit: Permit, ok: bool) -> Circuit:
        """The outcome of a request `permit` let through; returns the circuit afterwards."""
        if ok and permit.circuit.state is CircuitState.CLOSED:
            return permit.circuit  # nothing to write: a success only matters to a probe
        now = self._clock()

        def apply(current: Record | None) -> Change | None:
            changed = settle(Circuit.from_record(current), ok, permit.probe, self.policy, now)
            return None if changed is None else self._change(changed)

        return Circuit.from_record(await self._store.update(self._prefix + target, apply, now))

    async def circuits(self, targets: Sequence[str]) -> dict[str, Circuit]:
        """The circuits of `targets` as they stand (for /metrics and the admin API)."""
        records = await self._store.read([self._prefix + t for t in targets], self._clock())
        return {target: Circuit.from_record(record) for target, record in zip(targets, records, strict=True)}

    def _change(self, circuit: Circuit) -> Change:
        if circuit == CLOSED:
            return Change(None)
        if circuit.state is CircuitState.CLOSED:
            return Change(circuit.to_record(), circuit.failures[-1] + self.policy.window)
        # Kept a window past `until`, so the next request finds it and probes; forgotten, it is closed.
        return Change(circuit.to_record(), circuit.until + self.policy.window)
