"""One Cache-Control parser, one set of rules, for the exact and the semantic cache; the cases they
used to read differently (whitespace around `=`, repeated max-age, no-cache/no-store on the
semantic cache, several header lines, quoted values) are pinned here."""

from __future__ import annotations

import dataclasses

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import Exchange
from sluicegate.pipeline.cache import cache_decision
from sluicegate.pipeline.cache_control import MAX_TTL, CacheControl, parse_cache_control
from sluicegate.pipeline.semantic import SemanticCache
from sluicegate.pipeline.semantic_lookup import read_lookup
from sluicegate.semantic.adaptive import AdaptiveThresholds
from sluicegate.semantic.index import VectorIndex
from sluicegate.semantic.verify import Verifier
from sluicegate.storage.cache import MemoryCache
from tests.pipeline.test_semantic_warm_up import DIMENSIONS, GatedEmbedder, exchange


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["max-age=60"], CacheControl(max_age=60)),
        (["max-age = 60"], CacheControl(max_age=60)),  # the semantic cache used to ignore this
        (['max-age="60"'], CacheControl(max_age=60)),  # quoted form (RFC 9111 §5.2)
        (["Max-Age=60, NO-STORE"], CacheControl(max_age=60, no_store=True)),
        (
            ["max-age=60, max-age=120"],
            CacheControl(max_age=60),
        ),  # the first counts (exact cache took the last)
        (["max-age=abc, max-age=90"], CacheControl(max_age=90)),  # an invalid one is ignored
        (["max-age=-5"], CacheControl()),
        (["max-age=99999999999"], CacheControl(max_age=MAX_TTL)),
        (["no-cache", "no-store"], CacheControl(no_cache=True, no_store=True)),  # several lines
        (["private, max-age=30"], CacheControl(max_age=30)),
        ([], CacheControl()),
    ],
)
def test_directives(lines: list[str], expected: CacheControl) -> None:
    assert parse_cache_control(lines) == expected


@pytest.mark.parametrize(
    ("control", "lookup", "store"),
    [
        (CacheControl(), True, True),
        (CacheControl(no_cache=True), False, True),
        (CacheControl(no_store=True), True, False),
        (CacheControl(max_age=0), False, False),
    ],
)
def test_what_a_cache_may_do(control: CacheControl, lookup: bool, store: bool) -> None:
    assert (control.lookup, control.store) == (lookup, store)


@pytest.mark.parametrize(
    "lines",
    [
        ["max-age = 120"],
        ["max-age=120, max-age=600"],
        ["no-cache"],
        ["no-store"],
        ["no-cache", "max-age=200"],
        ['max-age="150"'],
    ],
)
async def test_the_exact_and_semantic_caches_read_a_request_alike(lines: list[str]) -> None:
    headers: CIMultiDict[str] = CIMultiDict([("Cache-Control", line) for line in lines])
    request = with_headers(exchange("How do I reset my password?"), CIMultiDictProxy(headers))
    assert request.gateway is not None
    settings = request.gateway.settings.model_copy(update={"cache_enabled": True})
    request.gateway = request.gateway.model_copy(update={"settings": settings})
    exact = cache_decision(request.request, request.gateway, request.plan)
    semantic = SemanticCache(GatedEmbedder(), VectorIndex(DIMENSIONS), Verifier, MemoryCache(1 << 20))
    lookup = read_lookup(request.request, request.gateway, request.plan, semantic.adaptive)
    await semantic.close()
    assert exact is not None
    assert lookup is not None
    assert (exact.ttl, exact.lookup, exact.store) == (lookup.ttl, lookup.lookup, lookup.store)
    control = parse_cache_control(lines)
    assert (exact.lookup, exact.store) == (control.lookup, control.store)


async def test_max_age_zero_keeps_both_caches_out() -> None:
    """Neither read nor store: a bypass of each cache that would otherwise apply (the semantic one
    here); the exact cache, off on this gateway, is not turned on by it (`cache_labels.py`)."""
    headers = CIMultiDictProxy(CIMultiDict({"Cache-Control": "max-age=0"}))
    request = with_headers(exchange("How do I reset my password?"), headers)
    assert request.gateway is not None
    lookup = read_lookup(request.request, request.gateway, request.plan, AdaptiveThresholds())
    assert lookup is not None
    assert (lookup.lookup, lookup.store) == (False, False)
    assert cache_decision(request.request, request.gateway, request.plan) is None
    settings = request.gateway.settings.model_copy(update={"cache_enabled": True})
    caching = request.gateway.model_copy(update={"settings": settings})
    exact = cache_decision(request.request, caching, request.plan)
    assert exact is not None
    assert (exact.lookup, exact.store) == (False, False)


def with_headers(asked: Exchange, headers: CIMultiDictProxy[str]) -> Exchange:
    return dataclasses.replace(asked, request=dataclasses.replace(asked.request, headers=headers))
