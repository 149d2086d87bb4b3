"""A database write refused for a full disk is a 507 `storage_full` that says so, on the admin API
and the Cloudflare API alike (it was a 500 whose cause only the gateway's log named). The error is
SQLite's own, from a real database whose size limit is reached, served over loopback."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sluicegate.cfapi.envelope import cloudflare_errors
from sluicegate.endpoints.json_errors import json_errors


def write_to_a_full_database(path: Path) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {pages}")
            connection.execute("INSERT INTO t VALUES (?)", (bytes(1 << 16),))
        return web.Response(text="saved")

    return handler


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    urls = {}
    running = []
    for name, middleware in (("admin", json_errors), ("cloudflare", cloudflare_errors)):
        app = web.Application(middlewares=[middleware])
        app.router.add_post("/write", write_to_a_full_database(tmp_path / f"{name}.db"))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        running.append(server)
        urls[name] = str(server.make_url("/write"))
    yield urls
    for server in running:
        await server.close()


async def test_a_write_to_a_full_disk_is_a_507_that_says_so(servers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        admin = await client.post(servers["admin"])
        cloudflare = await client.post(servers["cloudflare"])
    assert admin.status_code == 507, admin.text
    assert admin.json()["error"]["code"] == "storage_full"
    assert "disk is full" in admin.json()["error"]["message"]
    assert cloudflare.status_code == 507, cloudflare.text
    [error] = cloudflare.json()["errors"]
    assert "disk is full" in error["message"]
    assert cloudflare.json()["success"] is False
