"""The parsed-settings memo (`storage/gateway_rows.py`) is bounded by the memory its entries take,
not by the characters of their texts, and forgets a gateway's older settings once it reads newer
ones (a review found 32 million characters allowed, about 1 GB per process, filled with the
versions every PATCH of a 100-route gateway left behind)."""

from __future__ import annotations

import tracemalloc
from typing import Any

from sluicegate.gateway import GatewaySettings
from sluicegate.storage.gateway_rows import BYTES_PER_CHAR, MAX_BYTES, GatewayRows
from tests.storage.gateway_page_contract import NODE


def row(slug: str, text: str) -> tuple[Any, ...]:
    return ("local", slug, slug, text, 1.0, None, 1)


def routed(ttl: int, routes: int = 100) -> str:
    return GatewaySettings(
        cache_ttl=ttl, routes={f"route{i:03d}": NODE for i in range(routes)}
    ).model_dump_json()


def test_the_estimate_covers_what_parsed_settings_and_their_routes_really_take() -> None:
    rows = GatewayRows()
    texts = [routed(60 + i) for i in range(10)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, text in enumerate(texts):
            settings = rows.gateway_of(row(f"g{i}", text)).settings
            for name in settings.routes:
                settings.route(name)
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    held = taken + sum(len(text) for text in texts)  # the texts themselves are kept too
    assert held <= rows.estimated_bytes <= 2 * held


def test_the_memo_stays_within_its_bytes_and_keeps_the_newest() -> None:
    text = routed(60)
    rows = GatewayRows(max_bytes=10 * len(text) * BYTES_PER_CHAR)
    texts = [routed(60 + i) for i in range(25)]
    for i, text in enumerate(texts):
        rows.gateway_of(row(f"g{i}", text))
        assert rows.estimated_bytes <= rows.max_bytes
    assert len(rows) == 10
    assert all(text in rows for text in texts[-10:])
    assert MAX_BYTES <= 100 * 1024 * 1024  # a few MB of text, not 32 million characters


def test_a_gateways_newer_settings_replace_its_older_ones() -> None:
    rows = GatewayRows()
    versions = [routed(60 + i) for i in range(5)]  # five PATCHes of one gateway
    for i, version in enumerate(versions):
        assert rows.gateway_of(row("routed", version)).settings.cache_ttl == 60 + i
    assert len(rows) == 1
    assert versions[-1] in rows
    assert rows.estimated_bytes == len(versions[-1]) * BYTES_PER_CHAR

    parses = rows.parses
    rows.gateway_of(row("routed", versions[-1]))  # read again, unchanged: the same object
    assert rows.parses == parses


def test_a_text_two_gateways_share_stays_while_either_holds_it() -> None:
    rows = GatewayRows()
    shared = GatewaySettings().model_dump_json()
    first = rows.gateway_of(row("a", shared)).settings
    assert rows.gateway_of(row("b", shared)).settings is first
    rows.gateway_of(row("a", routed(90)))  # "a" changed; "b" still has the shared text
    assert shared in rows
    assert rows.gateway_of(row("b", shared)).settings is first
    rows.gateway_of(row("b", routed(120)))
    assert shared not in rows
    assert len(rows) == 2


def test_each_store_counts_its_own_parses() -> None:
    one, other = GatewayRows(), GatewayRows()
    text = routed(300, routes=2)
    one.gateway_of(row("g", text))
    other.gateway_of(row("g", text))
    one.gateway_of(row("g", text))
    assert (one.parses, other.parses) == (1, 1)
