"""Gateways read as a page in SQL, and stored settings parsed once per change: the `Database`
contract's gateway reads, on every backend (imported by test_sqlite_database.py and
tests/integration/backends/test_postgres_database.py).

Parses are counted by the store's own parsed-settings memo (`storage/gateway_rows.py`), so
nothing else parsing in the process can move the count; each test's settings also carry a marker
of their own, so the texts it stores are new to the memo.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sluicegate.directory import GatewayDirectory
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.storage.gateway_query import GatewayQuery
from tests.conftest import FakeClock
from tests.storage.database_contract import Backend

NODE: dict[str, Any] = {
    "if": {"metadata.tier": "pro"},
    "then": {"fallback": [{"model": "openai/gpt-4o"}, {"model": "anthropic/claude-sonnet-4-6"}]},
    "else": {
        "split": [
            {"weight": 90, "then": {"model": "openai/gpt-4o-mini"}},
            {"weight": 10, "then": {"model": "google-ai-studio/gemini-2.5-flash"}},
        ]
    },
}


def marked(**settings: Any) -> GatewaySettings:
    """Settings whose stored text no other test stores."""
    return GatewaySettings(redact_paths=[f"marker-{uuid.uuid4().hex}"], **settings)


async def refreshed(directory: GatewayDirectory, clock: FakeClock, seen: Gateway) -> Gateway:
    """The gateway as the directory's next refresh reads it: `seen` expires, and requests go on
    until one is answered with what the refresh read (a refresh slower than the directory waits
    for answers the stale value meanwhile)."""
    clock.now += 2.0
    for _ in range(2000):
        gateway = await directory.get(seen.account, seen.slug)
        assert gateway is not None
        if gateway is not seen:
            return gateway
        await asyncio.sleep(0.005)
    raise AssertionError("the directory never refreshed the gateway")


async def test_a_refresh_of_unchanged_settings_keeps_the_parsed_settings_and_routes(
    database: Backend,
) -> None:
    routes = {f"route{i:03d}": NODE for i in range(100)}
    await database.create_gateway("local", "routed", "Routed", marked(routes=routes))
    clock = FakeClock()
    directory = GatewayDirectory(database, ttl=1.0, clock=clock)
    first = await directory.get("local", "routed")
    assert first is not None
    route = first.settings.route("route042")
    assert route is not None
    assert route.name == "route042"
    parses = database.gateway_rows.parses

    again = await refreshed(directory, clock, first)  # read again from the store: nothing changed

    assert again.settings is first.settings
    assert again.settings.route("route042") is route  # parsed once, not once per refresh
    assert database.gateway_rows.parses == parses

    changed = first.settings.model_copy(update={"cache_ttl": 900})
    await database.update_gateway("local", "routed", None, changed)
    after = await refreshed(directory, clock, again)
    assert after.settings is not first.settings
    assert after.settings.cache_ttl == 900
    assert database.gateway_rows.parses == parses + 1
    new_route = after.settings.route("route042")
    assert new_route is not None
    assert new_route is not route
    assert new_route.name == "route042"


async def test_a_page_of_gateways_is_selected_in_sql_and_parses_only_its_rows(database: Backend) -> None:
    slugs = [f"g{i:03d}" for i in range(200)]
    for i, slug in enumerate(slugs):
        await database.create_gateway("local", slug, f"Gateway {i}", marked(cache_ttl=60 + i))
    parses = database.gateway_rows.parses

    page = await database.gateway_page(GatewayQuery("local", offset=40, limit=20))
    assert [g.slug for g in page] == ["default", *slugs][40:60]
    assert [g.settings.cache_ttl for g in page] == [60 + i for i in range(39, 59)]
    assert database.gateway_rows.parses == parses + 20  # the other 181 gateways' settings are not parsed
    assert await database.count_gateways(GatewayQuery("local", offset=40, limit=20)) == 201
    assert database.gateway_rows.parses == parses + 20

    again = await database.gateway_page(GatewayQuery("local", offset=40, limit=20))
    assert [g.settings for g in again] == [g.settings for g in page]
    assert all(a.settings is b.settings for a, b in zip(again, page, strict=True))
    assert database.gateway_rows.parses == parses + 20


async def test_a_gateway_query_searches_keeps_to_slugs_and_pages_after_a_cursor(database: Backend) -> None:
    for i in range(30):
        await database.create_gateway("local", f"team-{i:02d}", f"Team {i}", GatewaySettings())
    await database.create_gateway("other", "team-99", "Elsewhere", GatewaySettings())

    found = await database.gateway_page(GatewayQuery("local", search="m-1"))
    assert [g.slug for g in found] == [f"team-{i}" for i in range(10, 20)]
    assert await database.count_gateways(GatewayQuery("local", search="m-1")) == 10
    assert await database.count_gateways(GatewayQuery("local", search="100%")) == 0

    reach = frozenset({"team-03", "team-07", "default", "team-99"})
    kept = await database.gateway_page(GatewayQuery("local", slugs=reach, offset=1, limit=5))
    assert [g.slug for g in kept] == ["team-03", "team-07"]
    assert await database.count_gateways(GatewayQuery("local", slugs=reach)) == 3
    assert await database.count_gateways(GatewayQuery("local", slugs=frozenset())) == 0

    after = await database.gateway_page(GatewayQuery("local", after="team-27", limit=10))
    assert [g.slug for g in after] == ["team-28", "team-29"]
    assert [g.slug for g in await database.gateway_page(GatewayQuery("local", offset=29))] == [
        "team-28",
        "team-29",
    ]
