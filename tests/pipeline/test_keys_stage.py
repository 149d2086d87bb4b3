"""InjectKeys and StepKeys, called directly: stored provider keys go only to steps that came
without a key of their own, and a refused key gives way to another of its pool."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from sluicegate.custom_providers import CustomProviderDirectory, ProviderBook
from sluicegate.errors import ProviderKeysSealed
from sluicegate.exchange import Exchange, Step
from sluicegate.keys import KeyDirectory, KeyVault
from sluicegate.pipeline.key_verdicts import Verdict
from sluicegate.pipeline.keys import InjectKeys, StepKeys, aliased, keyless_steps, no_usable_key
from sluicegate.pipeline.resolve import Plan
from sluicegate.pipeline.steps import provider_planner
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.openai import OPENAI
from sluicegate.routing.keypool import KeyPools, KeyStatus
from sluicegate.routing.state import MemoryStateStore
from sluicegate.storage.base import StoredKey
from sluicegate.storage.sqlite import SqliteDatabase
from tests.pipeline.stage_parts import ACCOUNT, SLUG, Downstream, make_exchange, make_gateway

VAULT = KeyVault("a master key for tests")
CLAUDE = b'{"model": "claude-haiku-4-5", "max_tokens": 8, "messages": []}'


async def store_key(database: SqliteDatabase, provider: str, key: str, name: str = "default") -> None:
    stored = StoredKey(ACCOUNT, SLUG, provider, fingerprint=key[-4:], created_at=0, name=name)
    await database.put_provider_key(stored, VAULT.seal(key))


async def planned(database: SqliteDatabase, exchange: Exchange) -> Exchange:
    """The exchange as Plan hands it on: its steps made, the client's headers filtered into them."""
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, VAULT, allowed_hosts=()))
    downstream = Downstream()
    exchange.gateway = make_gateway()
    await Plan({"provider": provider_planner(book)})(exchange, downstream)
    return downstream.seen[0]


async def test_a_request_without_a_key_gets_the_stored_ones(database: SqliteDatabase) -> None:
    await store_key(database, "anthropic", "sk-ant-stored")
    exchange = await planned(database, make_exchange("v1/messages", provider="anthropic", body=CLAUDE))
    downstream = Downstream()
    await InjectKeys(KeyDirectory(database, VAULT))(exchange, downstream)
    [step] = downstream.seen[0].plan.steps
    assert step.keys is not None
    assert step.keys.values == {"default": "sk-ant-stored"}
    assert "sk-ant-stored" not in repr(step.keys)  # no message or traceback can show a key
    # The key goes in at each try, in the provider's own header and form.
    StepKeys(KeyPools(MemoryStateStore())).use(step, step.keys, "default")
    assert (step.headers["x-api-key"], step.key_name) == ("sk-ant-stored", "default")


@pytest.mark.parametrize(
    ("provider", "path", "body", "header"),
    [
        ("anthropic", "v1/messages", CLAUDE, {"x-api-key": "sk-ant-own"}),
        ("openai", "chat/completions", b'{"model": "gpt-4o"}', {"Authorization": "Bearer sk-own"}),
    ],
)
async def test_a_request_that_brings_its_key_keeps_it(
    database: SqliteDatabase, provider: str, path: str, body: bytes, header: dict[str, str]
) -> None:
    await store_key(database, provider, "sk-stored")
    exchange = await planned(database, make_exchange(path, provider=provider, body=body, headers=header))
    downstream = Downstream()
    await InjectKeys(KeyDirectory(database, VAULT))(exchange, downstream)
    [step] = downstream.seen[0].plan.steps
    assert step.keys is None
    assert dict(step.headers).items() >= header.items()


async def test_a_provider_without_stored_keys_gets_none(database: SqliteDatabase) -> None:
    await store_key(database, "openai", "sk-stored")  # another provider's key
    exchange = await planned(database, make_exchange("v1/messages", provider="anthropic", body=CLAUDE))
    downstream = Downstream()
    await InjectKeys(KeyDirectory(database, VAULT))(exchange, downstream)
    assert downstream.seen[0].plan.steps[0].keys is None


async def test_a_refused_key_gives_way_to_the_next_of_its_pool(database: SqliteDatabase) -> None:
    await store_key(database, "openai", "sk-first", name="first")
    await store_key(database, "openai", "sk-second", name="second")
    ring = (await KeyDirectory(database, VAULT).rings(ACCOUNT, SLUG))["openai"]
    keys = StepKeys(KeyPools(MemoryStateStore()))
    assert await keys.refused(ring, "first", 401, Verdict.DISABLE)
    assert not await keys.refused(ring, "second", 500, Verdict.PASS)  # not about the key
    assert keys.seen[(ring.pool, "first")] is KeyStatus.DISABLED
    picks = {(await keys.pick(ring, tried=())).key for _ in range(20)}
    assert {pick.name for pick in picks if pick is not None} == {"second"}


def test_keyless_steps_are_those_that_bring_no_credential() -> None:
    """The decision alone, on plain steps: no key store, no Exchange."""
    route = Route(ACCOUNT, "chat/completions")
    bare = Step(OPENAI, route, CIMultiDict(), b"", RequestFacts())
    keyed = Step(OPENAI, route, CIMultiDict({"Authorization": "Bearer sk-own"}), b"", RequestFacts())
    assert keyless_steps([keyed, bare], universal=True) == [bare]
    assert keyless_steps([keyed], universal=False) == []


async def test_keys_sealed_under_another_master_key_are_named_never_used(database: SqliteDatabase) -> None:
    await store_key(database, "openai", "sk-sealed-elsewhere", name="old")
    rings = await KeyDirectory(database, KeyVault("a mistyped master key")).rings(ACCOUNT, SLUG)
    ring = rings["openai"]
    assert (ring.keys, dict(ring.values), ring.sealed) == ((), {}, ("old",))
    pick = await StepKeys(KeyPools(MemoryStateStore())).pick(ring, [])
    assert pick.key is None
    error = no_usable_key("openai", ring, pick)
    assert (error.status, error.code) == (500, "provider_keys_sealed")
    with pytest.raises(ProviderKeysSealed):  # the key the client named by its alias, likewise
        aliased(ring, "old", "openai")
    # Beside a key that can be unsealed, a sealed one is only left out.
    await database.put_provider_key(
        StoredKey(ACCOUNT, SLUG, "openai", fingerprint="good", created_at=0, name="new"),
        KeyVault("a mistyped master key").seal("sk-new"),
    )
    rings = await KeyDirectory(database, KeyVault("a mistyped master key")).rings(ACCOUNT, SLUG)
    assert ([key.name for key in rings["openai"].keys], rings["openai"].sealed) == (["new"], ("old",))
