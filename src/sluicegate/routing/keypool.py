"""Key pools: several named provider keys per provider and gateway, chosen by weight.

What an upstream's answer does to the key it came with is decided in pipeline/key_verdicts.py; here
it is kept. A key whose refusal says it is invalid is disabled until someone enables it again; one
answered with 429 cools down for the upstream's Retry-After (else 60 s) and the request moves on to
the next key; one whose 429 says its account is out of credit (OpenAI's insufficient_quota) cools
down for `OUT_OF_CREDIT`. Any other 401 or 403 it may be refused with rests it for the request's
target only (`RestTarget`: its model at its route) for `MODEL_REST`: providers answer so for a
model a key's project may not use, or a destination the client named, and the key still serves
the others.
Only names and weights live here: the key material stays in the gateway's key store, looked up
by name when a key is chosen, so nothing this module returns can leak a key.
"""

from __future__ import annotations

import enum
import hashlib
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluicegate.routing.state import Change, Record, StateStore

DEFAULT_COOLDOWN = 60.0  # seconds a 429 without Retry-After cools a key
MODEL_REST = 600.0  # seconds a key refused (401/403) for a target is not tried for it again
MAX_COOLDOWN = 3600.0  # a Retry-After longer than this is taken as this
# A key whose account is out of credit rests an hour rather than being disabled: credit comes back
# without the gateway being told (a payment, auto-recharge, a raised or renewed spending limit), and
# a disabled key stays out until someone enables it. An hour costs one refused request per key (a
# 429 answered at once, not billed) where disabling could cost an outage outliving its cause.
OUT_OF_CREDIT = 3600.0
MAX_KEYS = 50
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class PoolKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=KEY_NAME_PATTERN, description="the stored key's name")
    weight: float = Field(1.0, gt=0, le=1_000_000, allow_inf_nan=False)


class KeyPool(BaseModel):
    """A provider's keys on one gateway:
    `{"keys": [{"name": "main", "weight": 3}, {"name": "spare"}]}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[PoolKey] = Field(min_length=1, max_length=MAX_KEYS)

    @field_validator("keys")
    @classmethod
    def _names_unique(cls, keys: list[PoolKey]) -> list[PoolKey]:
        names = [key.name for key in keys]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"each key is named once; repeated: {', '.join(twice)}")
        return keys


@dataclass(frozen=True, slots=True)
class KeyRing:
    """A provider's stored keys on one gateway as a request uses them: names and weights to choose
    by, and the keys themselves (left out of `repr`, so no message or traceback can show one)."""

    pool: str  # `account/gateway/provider`: where the keys' health is kept
    keys: tuple[PoolKey, ...]
    values: Mapping[str, str] = field(repr=False)  # name -> key
    # Names of stored keys that could not be unsealed (another master key): never chosen, but named
    # when nothing else is left (`pipeline/keys.py` `no_usable_key`), rather than sending no key.
    sealed: tuple[str, ...] = ()


class KeyStatus(enum.StrEnum):
    OK = "ok"
    COOLING = "cooling"
    DISABLED = "disabled"
    RESTING = "resting"  # for one target, after its 401/403: a record of its own, read only with it


_TIMED = (KeyStatus.COOLING, KeyStatus.RESTING)  # states that end by themselves at `until`


class KeyHealth(NamedTuple):
    status: KeyStatus = KeyStatus.OK
    until: float = 0.0  # cooling or resting: when the key may be used again
    reason: str = ""  # e.g. "upstream answered 401"

    @classmethod
    def from_record(cls, record: Record | None, now: float) -> KeyHealth:
        if record is None:
            return OK
        health = cls(KeyStatus(record["status"]), record.get("until", 0.0), record.get("reason", ""))
        return OK if health.status in _TIMED and health.until <= now else health


OK = KeyHealth()


class KeyPick(NamedTuple):
    """The key to use (None when none is usable), and when one is, the soonest a cooling key frees."""

    key: PoolKey | None
    retry_after: float | None = None  # no key: seconds until a cooling one frees (None: all disabled)
    model_refused: bool = False  # no key: some rest after a 401/403 for the request's target


class RestTarget(NamedTuple):
    """What a rest holds a key off: the request's `model` (None: it names none) at its `route` (the
    account and the path below the provider, which names Azure's resource and a Vertex project)."""

    model: str | None
    route: str

    def digest(self) -> str:
        """Its record's name: a model and a path the client chose are digested, so none grows with them."""
        named = f"{self.model or ''}\n{self.route}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(named).hexdigest()[:32]

    def shown(self) -> str:
        """As messages and logs show it: the model, else the route, quoted and cut short."""
        return f"model {shown_model(self.model)}" if self.model else f"route {shown_model(self.route)}"


class KeyEvent(NamedTuple):
    """What a refusal did to a key, for the log and metrics: its name, never its value."""

    name: str
    status: KeyStatus
    until: float
    reason: str


class KeyPools:
    def __init__(
        self,
        store: StateStore,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        prefix: str = "key:",
    ) -> None:
        self._store = store
        self._clock = clock
        self._rand = rand
        self._prefix = prefix

    async def pick(
        self,
        pool: str,
        keys: Sequence[PoolKey],
        exclude: Collection[str] = (),
        target: RestTarget | None = None,
    ) -> KeyPick:
        """A usable key of `pool` (e.g. `account/gateway/provider`) by weight, other than `exclude`
        (the keys this request already tried), and not resting for `target`."""
        now = self._clock()
        candidates = [key for key in keys if key.name not in exclude]
        health = await self._read(pool, candidates, now, target)
        usable = [key for key, h in zip(candidates, health, strict=True) if h.status is KeyStatus.OK]
        if not usable:
            waiting = [h for h in health if h.status in _TIMED]
            soonest = min(h.until - now for h in waiting) if waiting else None
            # Only resting for the target: a 401/403. A key cooling after a 429 too: a 429 says when.
            resting = bool(waiting) and all(h.status is KeyStatus.RESTING for h in waiting)
            return KeyPick(None, soonest, resting)
        point = self._rand() * sum(key.weight for key in usable)
        for key in usable:
            point -= key.weight
            if point < 0:
                return KeyPick(key)
        return KeyPick(usable[-1])

    async def report(
        self,
        pool: str,
        name: str,
        status: int,
        retry_after: float | None = None,
        target: RestTarget | None = None,
        out_of_credit: bool = False,
        invalid: bool = False,
    ) -> KeyEvent | None:
        """What the upstream answered a request (for `target`) sent with key `name`: a 429 cools it
        (`out_of_credit`: its provider read the 429 as the key's account out of credit), a refusal
        that said the key is `invalid` disables it, another 401 or 403 rests it for `target`;
        returns what changed."""
        now = self._clock()
        record_key = self._key(pool, name)
        if status == 429 and out_of_credit:
            change = KeyHealth(KeyStatus.COOLING, now + OUT_OF_CREDIT, "upstream answered 429: out of credit")
        elif status == 429:
            wait = DEFAULT_COOLDOWN if retry_after is None else min(max(retry_after, 0.0), MAX_COOLDOWN)
            change = KeyHealth(KeyStatus.COOLING, now + wait, "upstream answered 429")
        elif invalid:
            change = KeyHealth(KeyStatus.DISABLED, 0.0, f"upstream answered {status}")
        elif status in (401, 403):
            target = target or RestTarget(None, "")
            record_key = self._target_key(pool, name, target.digest())
            reason = f"upstream answered {status} for {target.shown()}"
            change = KeyHealth(KeyStatus.RESTING, now + MODEL_REST, reason)
        else:
            return None

        def apply(current: Record | None) -> Change | None:
            health = KeyHealth.from_record(current, now)
            if health.status is KeyStatus.DISABLED:
                return None  # stays disabled until enabled
            if change.status in _TIMED and health.status is change.status and health.until >= change.until:
                return None  # already cooling (or resting) for longer
            record = {"status": change.status.value, "until": change.until, "reason": change.reason}
            return Change(record, change.until if change.status in _TIMED else None)

        after = KeyHealth.from_record(await self._store.update(record_key, apply, now), now)
        return KeyEvent(name, after.status, after.until, after.reason)

    async def enable(self, pool: str, name: str) -> None:
        """Back in use (after the key was replaced or the account fixed)."""
        await self._store.update(self._key(pool, name), lambda _: Change(None), self._clock())

    async def disable(self, pool: str, name: str, reason: str) -> None:
        """Out of use until enabled, e.g. by an admin retiring a key."""
        record = {"status": KeyStatus.DISABLED.value, "until": 0.0, "reason": reason}
        await self._store.update(self._key(pool, name), lambda _: Change(record), self._clock())

    async def health(self, pool: str, keys: Sequence[PoolKey]) -> dict[str, KeyHealth]:
        """Each key's health, by name (for the admin API and metrics)."""
        now = self._clock()
        return {key.name: h for key, h in zip(keys, await self._read(pool, keys, now), strict=True)}

    async def _read(
        self, pool: str, keys: Sequence[PoolKey], now: float, target: RestTarget | None = None
    ) -> list[KeyHealth]:
        """Each key's health; with `target`, a key otherwise fine may be resting for it (one read of
        both records per key)."""
        names = [self._key(pool, key.name) for key in keys]
        if target is not None:
            digest = target.digest()  # once for the pool, not per key
            names += [self._target_key(pool, key.name, digest) for key in keys]
        records = await self._store.read(names, now)
        health = [KeyHealth.from_record(record, now) for record in records[: len(keys)]]
        if target is None:
            return health
        rests = [KeyHealth.from_record(record, now) for record in records[len(keys) :]]
        return [
            own if own.status is not KeyStatus.OK else rest for own, rest in zip(health, rests, strict=True)
        ]

    def _key(self, pool: str, name: str) -> str:
        return f"{self._prefix}{pool}/{name}"

    def _target_key(self, pool: str, name: str, digest: str) -> str:
        """The record of a key's rest for the target of `digest` (a key's name has no "#")."""
        return f"{self._prefix}{pool}/{name}#target={digest}"


_SHOWN_MODEL_CHARS = 100


def shown_model(model: str | None) -> str:
    """A client-chosen model name as messages and logs show it: quoted, at most 100 characters."""
    text = model or ""
    return repr(text if len(text) <= _SHOWN_MODEL_CHARS else text[:_SHOWN_MODEL_CHARS] + "…")
