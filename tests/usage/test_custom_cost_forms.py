"""The forms of `cf-aig-custom-cost` that Cloudflare's `AIGatewayHeaders` type allows besides both
per-token prices: one of them (the other side keeps the price it would have had) or `total_cost`."""

from __future__ import annotations

import pytest

from sluicegate.outcome.pricing import shown
from sluicegate.types import Usage
from sluicegate.usage.custom_cost import CustomCost, parse_custom_cost
from sluicegate.usage.rates import Rates, TieredRates

USAGE = Usage(input_tokens=1_000, output_tokens=500, cached_tokens=400, reasoning_tokens=100)
LIST = Rates.per_million(2.0, 8.0, cache_read=0.5)  # the price table's
LIST_COST = 600 * 2e-6 + 400 * 0.5e-6 + 500 * 8e-6


def test_each_form_the_type_allows_is_read() -> None:
    assert parse_custom_cost('{"total_cost": 0.5}') == CustomCost(total_cost=0.5)
    assert parse_custom_cost('{"total_cost": 0}') == CustomCost(total_cost=0.0)
    assert parse_custom_cost('{"per_token_in": 1e-6}') == CustomCost(per_token_in=1e-6)
    assert parse_custom_cost('{"per_token_out": 2e-6}') == CustomCost(per_token_out=2e-6)
    read_too = parse_custom_cost('{"per_token_in": 1e-6, "per_cache_read_token": 1e-7}')
    assert read_too == CustomCost(per_token_in=1e-6, per_cache_read_token=1e-7)


def test_a_total_cost_is_the_cost_whatever_the_usage() -> None:
    total = CustomCost(total_cost=0.5)
    assert total.cost(USAGE) == 0.5
    assert total.cost(Usage()) == 0.5
    assert shown(LIST, total).cost(USAGE) == 0.5  # over the list price too


def test_a_side_the_header_leaves_out_keeps_the_list_price() -> None:
    price_in = shown(LIST, CustomCost(per_token_in=1e-6))
    # Every input token (the cached ones too, without a read price) at the header's price.
    assert price_in.cost(USAGE) == pytest.approx(1_000 * 1e-6 + 500 * 8e-6, rel=1e-12)
    price_out = shown(LIST, CustomCost(per_token_out=3e-6))
    assert price_out.cost(USAGE) == pytest.approx(600 * 2e-6 + 400 * 0.5e-6 + 500 * 3e-6, rel=1e-12)
    assert shown(LIST, CustomCost(per_token_in=2e-6, per_token_out=8e-6)).cost(USAGE) != LIST_COST


def test_where_nothing_prices_the_model_a_side_left_out_costs_nothing() -> None:
    assert shown(None, CustomCost(per_token_in=1e-6)).cost(USAGE) == pytest.approx(1_000 * 1e-6)
    assert shown(None, CustomCost(per_token_out=3e-6)).cost(USAGE) == pytest.approx(500 * 3e-6)
    # As the rules' price of a model nothing else prices (`Pricing.price` returns it itself).
    only_in = CustomCost(per_token_in=1e-6)
    assert shown(only_in, only_in).cost(USAGE) == pytest.approx(1_000 * 1e-6)


def test_the_list_side_is_priced_at_the_tier_the_whole_request_is_in() -> None:
    long = Rates.per_million(4.0, 16.0)
    tiered = TieredRates(LIST, ((800, long),))  # the input exceeds 800 tokens: the long tier
    assert shown(tiered, CustomCost(per_token_in=1e-6)).cost(USAGE) == pytest.approx(
        1_000 * 1e-6 + 500 * 16e-6, rel=1e-12
    )


def test_a_flat_fee_per_request_is_no_sides_and_left_out() -> None:
    fee = Rates(input=2e-6, output=8e-6, cache_read=2e-6, cache_write=2e-6, cache_write_1h=2e-6,
                reasoning=8e-6, per_request=0.01)  # fmt: skip
    usage = Usage(input_tokens=1_000, output_tokens=500)
    assert shown(fee, CustomCost(per_token_in=1e-6)).cost(usage) == pytest.approx(1e-3 + 4e-3, rel=1e-12)
    assert shown(fee, CustomCost(per_token_out=1e-6)).cost(usage) == pytest.approx(2e-3 + 5e-4, rel=1e-12)
