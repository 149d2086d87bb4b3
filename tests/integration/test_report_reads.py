"""Reports over many records stay out of the request path's way (scale tester, HIGH).

An account's log listing across its gateways read and sorted every record (4-9 s over a million
on SQLite): its page must be found by walking an index in id order. And every SQLite read shared
one worker thread, so a slow report held up the first request to a gateway the gateway had not
seen yet: request-path reads must not wait behind a report (tested at the store's level, on its
reports' connection: tests/storage/test_sqlite_reports.py).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import asyncpg
import openai
import pytest

from sluicegate.endpoints.log_params import log_query
from sluicegate.storage.log_conditions import POSTGRES, log_filter, order_clause
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT = "/api/v1/accounts/local"
MESSAGES: Any = [{"role": "user", "content": "which gateway am I on"}]
# What the account listing is asked most: no filter, the next page, a filter on another column.
SORT_NODE = re.compile(r"^\s*(->\s*)?(Incremental )?Sort\s+\(", re.M)  # not Merge Append's "Sort Key"
LISTINGS: list[dict[str, str]] = [{}, {"cursor": "f" * 32}, {"provider": "openai"}, {"status": "5xx"}]


def chat(gateway: RunningGateway, slug: str, timeout: float = 10) -> int:
    with openai.OpenAI(
        base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0, timeout=timeout
    ) as client:
        return client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ).status_code


def plan_tree(rows: list[tuple[int, int, int, str]]) -> dict[int, tuple[int, str]]:
    return {node: (parent, detail) for node, parent, _, detail in rows}


def under(tree: dict[int, tuple[int, str]], node: int, ancestor: int) -> bool:
    while node in tree:
        if node == ancestor:
            return True
        node = tree[node][0]
    return False


def test_an_account_wide_listing_walks_an_index_on_sqlite(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    from sluicegate.storage.sqlite_logs import select_logs_sql  # here: the code before had no such SQL

    with FakeOpenAI().serve() as fake:
        gateway = make_gateway(upstreams={"openai": fake.base_url})
        assert gateway.http.post(f"{ACCOUNT}/gateways", json={"name": "staging"}).status_code == 201
        for slug in ("default", "staging", "default"):
            assert chat(gateway, slug) == 200
        gateway.wait_for_logs(2, "default")
        gateway.wait_for_logs(1, "staging")
        assert len(gateway.http.get(f"{ACCOUNT}/logs").json()["result"]) == 3

        database = sqlite3.connect(gateway.settings.data_dir / "sluicegate.db")
        try:
            for params in LISTINGS:
                # The query the endpoint builds, and the exact SQL the store runs for it.
                sql, args = select_logs_sql(log_query("local", None, params, also=("gateway",)))
                rows = database.execute(f"EXPLAIN QUERY PLAN {sql}", (*args, 50, 0)).fetchall()
                tree = plan_tree(rows)
                chooser = next(n for n, (_, d) in tree.items() if "SUBQUERY" in d)  # picks the page
                inner = [d for n, (_, d) in tree.items() if under(tree, n, chooser) and n != chooser]
                assert any("USING" in d and "INDEX logs_account_id " in d for d in inner), (params, rows)
                assert not any("TEMP B-TREE" in d for d in inner), (params, rows)
        finally:
            database.close()


@pytest.mark.parametrize("backend", ["scaled"])
def test_an_account_wide_listing_walks_an_index_on_postgresql(
    make_gateway: Callable[..., RunningGateway], backend: str
) -> None:
    gateway = make_gateway()  # migrates the schema
    url = gateway.settings.resolved_database_url
    dsn, schema = url.split("?schema=")

    async def plans() -> list[str]:
        connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            # Three days of records in three gateways, as the store partitions them: enough rows
            # that sorting a day's records costs the planner more than walking an index.
            for day in range(3):
                start = 1_780_000_000 + day * 86400
                name = f"logs_test_{day}"
                await connection.execute(
                    f"CREATE TABLE {name} PARTITION OF logs FOR VALUES FROM ({start}) TO ({start + 86400})"
                )
                await connection.execute(
                    "INSERT INTO logs (id, ts, account, gateway, provider, endpoint, method, model, stream,"
                    " status, latency_ms, usage_estimated, cache_status, metadata, request_headers, attempts,"
                    " rate_limited)"
                    " SELECT lpad(to_hex(((start + i * 4.32) * 1000)::bigint), 12, '0') || md5(i::text),"
                    " start + i * 4.32, 'local', 'g' || (i % 3), CASE WHEN i % 2 = 0 THEN 'openai'"
                    " ELSE 'anthropic' END, 'chat/completions', 'POST', 'gpt-4o-mini', false,"
                    " CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END, 100, false, 'MISS', '{}', '{}', '[]', false"
                    " FROM generate_series(0, 19999) AS i, (SELECT $1::float8 AS start) AS s",
                    float(start),
                )
            await connection.execute("ANALYZE logs")
            found = []
            for params in LISTINGS:
                query = log_query("local", None, params, also=("gateway",))
                where, args = log_filter(query, POSTGRES)
                sql = f"SELECT id FROM logs WHERE {where} {order_clause(query.order, POSTGRES)} LIMIT 50"
                found.append("\n".join(r[0] for r in await connection.fetch(f"EXPLAIN {sql}", *args)))
            return found
        finally:
            await connection.close()

    for params, plan in zip(LISTINGS, asyncio.run(plans()), strict=True):
        assert "Merge Append" in plan, (params, plan)
        assert not SORT_NODE.search(plan), (params, plan)
        assert "account_id" in plan, (params, plan)
