"""PriceTable prices usage as genai-prices' data says; overrides and custom-cost headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources

import genai_prices
import pytest
from genai_prices.data import providers as price_data
from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from sluicegate.types import Usage
from sluicegate.usage.cost import PROVIDER_IDS, PriceTable, _compile, _LibraryPricer
from sluicegate.usage.custom_cost import CustomCost, parse_custom_cost
from sluicegate.usage.price_overrides import read_overrides
from sluicegate.usage.rates import Rates

OUR_PROVIDERS = [
    "openai",
    "azure-openai",
    "anthropic",
    "google-ai-studio",
    "google-vertex-ai",
    "workers-ai",
    "huggingface",
    "replicate",
    "groq",
    "mistral",
    "deepseek",
    "openrouter",
    "perplexity-ai",
    "cohere",
    "custom",
]
UNMAPPED = {"huggingface", "replicate", "custom"}
MILLION = Decimal(1_000_000)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable()


def model_in_data(provider_id: str, model_id: str) -> ModelInfo:
    provider = next(p for p in price_data if p.id == provider_id)
    return next(m for m in provider.models if m.id == model_id)


def test_gpt_4o_mini(table: PriceTable) -> None:
    prices = model_in_data("openai", "gpt-4o-mini").prices
    assert isinstance(prices, ModelPrice)
    # OpenAI's list prices, as genai-prices records them.
    assert (prices.input_mtok, prices.output_mtok, prices.cache_read_mtok) == (
        Decimal("0.15"),
        Decimal("0.6"),
        Decimal("0.075"),
    )
    assert isinstance(prices.input_mtok, Decimal)
    assert isinstance(prices.output_mtok, Decimal)
    assert isinstance(prices.cache_read_mtok, Decimal)
    usage = Usage(input_tokens=12_000, output_tokens=3_000, cached_tokens=4_000)
    expected = (
        (12_000 - 4_000) * prices.input_mtok + 4_000 * prices.cache_read_mtok + 3_000 * prices.output_mtok
    ) / MILLION
    assert table.cost("openai", "gpt-4o-mini", usage) == pytest.approx(float(expected), rel=1e-12)
    # The dated name is the same model.
    assert table.cost("openai", "gpt-4o-mini-2024-07-18", usage) == pytest.approx(float(expected), rel=1e-12)
    no_cache = Usage(input_tokens=12_000, output_tokens=3_000)
    expected_no_cache = (12_000 * prices.input_mtok + 3_000 * prices.output_mtok) / MILLION
    assert table.cost("openai", "gpt-4o-mini", no_cache) == pytest.approx(float(expected_no_cache), rel=1e-12)


def test_claude_sonnet_4_5_and_its_long_context_tier(table: PriceTable) -> None:
    prices = model_in_data("anthropic", "claude-sonnet-4-5").prices
    assert isinstance(prices, ModelPrice)
    input_mtok, output_mtok, cache_read_mtok = prices.input_mtok, prices.output_mtok, prices.cache_read_mtok
    assert isinstance(input_mtok, TieredPrices)
    assert isinstance(output_mtok, TieredPrices)
    assert isinstance(cache_read_mtok, TieredPrices)
    assert (input_mtok.base, output_mtok.base, cache_read_mtok.base) == (
        Decimal(3),
        Decimal(15),
        Decimal("0.3"),
    )
    (tier,) = input_mtok.tiers
    assert [t.start for t in output_mtok.tiers] == [t.start for t in cache_read_mtok.tiers] == [tier.start]

    short = Usage(input_tokens=10_000, output_tokens=1_000, cached_tokens=2_000)
    expected_short = (
        8_000 * input_mtok.base + 2_000 * cache_read_mtok.base + 1_000 * output_mtok.base
    ) / MILLION
    assert table.cost("anthropic", "claude-sonnet-4-5", short) == pytest.approx(
        float(expected_short), rel=1e-12
    )

    # Past the tier start every token is billed at the tier's price.
    n = tier.start + 1
    long = Usage(input_tokens=n, output_tokens=1_000, cached_tokens=50_000)
    expected_long = (
        (n - 50_000) * tier.price
        + 50_000 * cache_read_mtok.tiers[0].price
        + 1_000 * output_mtok.tiers[0].price
    ) / MILLION
    assert table.cost("anthropic", "claude-sonnet-4-5", long) == pytest.approx(
        float(expected_long), rel=1e-12
    )
    at_start = Usage(input_tokens=tier.start, output_tokens=0)
    assert table.cost("anthropic", "claude-sonnet-4-5", at_start) == pytest.approx(
        float(tier.start * input_mtok.base / MILLION), rel=1e-12
    )


def test_unknown_models_have_no_price(table: PriceTable) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    assert table.cost("openai", "no-such-model-xyz", usage) is None
    assert table.cost("custom", "my-own-finetune", usage) is None
    assert table.cost("anthropic", "gpt-4o-mini", usage) is None
    assert table.cost("openai", None, usage) is None


def test_provider_slugs_map_to_known_genai_prices_providers() -> None:
    assert set(PROVIDER_IDS) == set(OUR_PROVIDERS) - UNMAPPED
    for provider_id in PROVIDER_IDS.values():
        assert find_provider_by_id(price_data, provider_id) is not None, provider_id


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("azure-openai", "gpt-4o-mini", "azure", "gpt-4o-mini"),
        ("google-vertex-ai", "claude-sonnet-4-5@20250929", "google", "claude-sonnet-4-5"),
        ("google-ai-studio", "models/gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", "cloudflare", "@cf/meta/llama-3.1-8b-instruct"),
        ("openrouter", "openai/gpt-4o-mini", "openrouter", "openai/gpt-4o-mini"),
        ("custom", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_provider_and_model_resolution(
    table: PriceTable, provider: str, model: str, provider_id: str, model_id: str
) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=100)
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1_000, output_tokens=100), model_id, provider_id=provider_id
    )
    assert table.cost(provider, model, usage) == pytest.approx(float(expected.total_price), rel=1e-12)


def test_time_dependent_prices_follow_the_clock(table: PriceTable) -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    info = model_in_data("deepseek", "deepseek-chat")
    assert isinstance(info.prices, list)
    peak = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    off_peak = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    for at in (peak, off_peak):
        prices = info.get_prices(at)
        assert isinstance(prices.input_mtok, Decimal)
        assert isinstance(prices.output_mtok, Decimal)
        expected = float(prices.input_mtok + prices.output_mtok)
        assert table.cost("deepseek", "deepseek-chat", usage, at=at) == pytest.approx(expected, rel=1e-12)
    assert table.cost("deepseek", "deepseek-chat", usage, at=peak) != table.cost(
        "deepseek", "deepseek-chat", usage, at=off_peak
    )


def test_per_request_fee_and_reasoning_price(table: PriceTable) -> None:
    sonar = model_in_data("perplexity", "sonar").prices
    assert isinstance(sonar, ModelPrice)
    assert isinstance(sonar.requests_kcount, Decimal)
    assert table.cost("perplexity-ai", "sonar", Usage()) == pytest.approx(float(sonar.requests_kcount / 1000))

    research = model_in_data("perplexity", "sonar-deep-research").prices
    assert isinstance(research, ModelPrice)
    assert isinstance(research.output_mtok, Decimal)
    assert isinstance(research.output_reasoning_mtok, Decimal)
    usage = Usage(output_tokens=1_000, reasoning_tokens=400)
    expected = (600 * research.output_mtok + 400 * research.output_reasoning_mtok) / MILLION
    assert table.cost("perplexity-ai", "sonar-deep-research", usage) == pytest.approx(
        float(expected), rel=1e-12
    )


def test_impossible_counts_are_capped(table: PriceTable) -> None:
    # More cached than input tokens: everything is priced as cached rather than raising.
    capped = table.cost("openai", "gpt-4o-mini", Usage(input_tokens=100, cached_tokens=500))
    assert capped == table.cost("openai", "gpt-4o-mini", Usage(input_tokens=100, cached_tokens=100))
    # Writes get what reads left of the input; the 1-hour part no more than the writes.
    over = Usage(input_tokens=100, cached_tokens=60, cache_write_tokens=90, cache_write_1h_tokens=70)
    fits = Usage(input_tokens=100, cached_tokens=60, cache_write_tokens=40, cache_write_1h_tokens=40)
    assert table.cost("anthropic", "claude-haiku-4-5", over) == table.cost(
        "anthropic", "claude-haiku-4-5", fits
    )


def test_cache_writes_are_priced_by_their_ttl(table: PriceTable) -> None:
    prices = model_in_data("anthropic", "claude-haiku-4-5").prices
    assert isinstance(prices, ModelPrice)
    # Anthropic's list prices: a 5-minute write costs 1.25 times the input, a 1-hour write twice it.
    assert (prices.input_mtok, prices.cache_write_mtok, prices.cache_write_1h_mtok) == (
        Decimal(1),
        Decimal("1.25"),
        Decimal(2),
    )
    usage = Usage(
        input_tokens=10_000,
        output_tokens=500,
        cached_tokens=3_000,
        cache_write_tokens=5_000,
        cache_write_1h_tokens=2_000,
    )
    expected = (2_000 * 1 + 3_000 * 0.1 + 3_000 * 1.25 + 2_000 * 2 + 500 * 5) / 1e6
    assert table.cost("anthropic", "claude-haiku-4-5", usage) == pytest.approx(expected, rel=1e-12)
    # A model without cache-write prices bills writes as input, as its provider does.
    mini = table.cost("openai", "gpt-4o-mini", usage)
    assert mini == pytest.approx((7_000 * 0.15 + 3_000 * 0.075 + 500 * 0.6) / 1e6, rel=1e-12)


EQUIVALENCE_USAGES = [
    Usage(input_tokens=1_234, output_tokens=567, cached_tokens=200, reasoning_tokens=100),
    Usage(input_tokens=5_000, output_tokens=800, web_searches=4),  # a server tool's searches
    Usage(input_tokens=300_001, output_tokens=4_000, cached_tokens=100_000, reasoning_tokens=1_000),
    Usage(
        input_tokens=2_500,
        output_tokens=300,
        cached_tokens=400,
        cache_write_tokens=1_500,
        cache_write_1h_tokens=600,
    ),
    Usage(
        input_tokens=250_000,
        output_tokens=2_000,
        cached_tokens=30_000,
        cache_write_tokens=200_000,
        cache_write_1h_tokens=150_000,
        reasoning_tokens=500,
    ),
]
EQUIVALENCE_TIMES = [
    datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 1, 15, 3, 0, tzinfo=UTC),
    datetime(2027, 6, 1, 20, 0, tzinfo=UTC),
]


def test_every_model_priced_as_genai_prices_prices_it() -> None:
    """Our rate cards against genai-prices' own calculation, for every model in its data."""
    table = PriceTable(overrides={})
    slug_for: dict[str, str] = {}
    for our_slug, their_id in PROVIDER_IDS.items():
        slug_for.setdefault(their_id, our_slug)
    checked = 0
    for provider in price_data:
        slug = slug_for.get(provider.id, "custom")
        provider_id = provider.id if slug != "custom" else None
        for model in provider.models:
            for usage in EQUIVALENCE_USAGES:
                counts = genai_prices.Usage(
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cache_read_tokens=usage.cached_tokens,
                    cache_write_tokens=usage.cache_write_tokens,
                    cache_write_1h_tokens=usage.cache_write_1h_tokens,
                    output_reasoning_tokens=usage.reasoning_tokens,
                    web_searches=usage.web_searches,
                )
                # The time matters only to prices that change with it.
                for at in EQUIVALENCE_TIMES if isinstance(model.prices, list) else EQUIVALENCE_TIMES[:1]:
                    ours = table.cost(slug, model.id, usage, at=at)
                    try:
                        theirs = genai_prices.calc_price(
                            counts, model.id, provider_id=provider_id, genai_request_timestamp=at
                        )
                    except LookupError:
                        assert ours is None, (provider.id, model.id)
                        continue
                    assert ours == pytest.approx(float(theirs.total_price), rel=1e-9, abs=1e-15), (
                        provider.id,
                        model.id,
                        usage,
                        at,
                    )
                    checked += 1
    assert checked > 7_000  # most of the 2,330 models, four times; a few cannot be found by their id alone


def test_packaged_override_table_is_used(table: PriceTable) -> None:
    text = resources.files("sluicegate.usage").joinpath("price_overrides.json").read_text()
    entry = json.loads(text)["prices"]["replicate"]["meta/meta-llama-3-70b-instruct"]
    assert "replicate.com/meta/meta-llama-3-70b-instruct" in entry["comment"]  # names its source
    usage = Usage(input_tokens=2_000, output_tokens=1_000)
    expected = (2_000 * entry["input_per_mtok"] + 1_000 * entry["output_per_mtok"]) / 1e6
    assert table.cost("replicate", "meta/meta-llama-3-70b-instruct", usage) == pytest.approx(expected)
    assert table.cost("replicate", "Meta/Meta-Llama-3-70B-Instruct", usage) == pytest.approx(expected)
    # Overrides are per provider.
    assert table.cost("custom", "meta/meta-llama-3-70b-instruct", usage) is None


def test_overrides_price_cache_writes() -> None:
    raw = """{"prices": {"custom": {
        "tuned": {"input_per_mtok": 2, "output_per_mtok": 8, "cache_read_per_mtok": 0.2,
                  "cache_write_per_mtok": 2.5, "cache_write_1h_per_mtok": 4},
        "plain": {"input_per_mtok": 2, "output_per_mtok": 8}}}}"""
    table = PriceTable(overrides=read_overrides(raw))
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cached_tokens=200_000,
        cache_write_tokens=500_000,
        cache_write_1h_tokens=100_000,
    )
    tuned = 0.3 * 2 + 0.2 * 0.2 + 0.4 * 2.5 + 0.1 * 4 + 0.1 * 8
    assert table.cost("custom", "tuned", usage) == pytest.approx(tuned, rel=1e-12)
    assert table.cost("custom", "plain", usage) == pytest.approx(1.0 * 2 + 0.1 * 8, rel=1e-12)


def test_overrides_come_before_genai_prices() -> None:
    negotiated = Rates.per_million(input=1.0, output=2.0, cache_read=0.5)
    table = PriceTable(overrides={("openai", "gpt-4o-mini"): negotiated})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=500_000)
    assert table.cost("openai", "gpt-4o-mini", usage) == pytest.approx(0.5 + 0.25 + 2.0)
    # Other providers still come from genai-prices.
    assert table.cost("azure-openai", "gpt-4o-mini", usage) == pytest.approx(
        0.5 * 0.15 + 0.5 * 0.075 + 0.6, rel=1e-12
    )


def test_overrides_are_looked_up_by_the_name_as_sent() -> None:
    # Before the provider's price name (Gemini's `models/x` is `x` to genai-prices), lowercased.
    negotiated = Rates.per_million(input=1.0, output=2.0)
    table = PriceTable(overrides={("google-ai-studio", "models/gemini-2.5-flash"): negotiated})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("google-ai-studio", "Models/Gemini-2.5-Flash", usage) == pytest.approx(3.0)
    listed = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1_000_000, output_tokens=1_000_000),
        "gemini-2.5-flash",
        provider_id="google",
    )
    assert table.cost("google-ai-studio", "gemini-2.5-flash", usage) == pytest.approx(
        float(listed.total_price), rel=1e-12
    )
    assert float(listed.total_price) != pytest.approx(3.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "expected an object with a 'prices' object"),
        ('{"prices": {"replicate": []}}', "'replicate' must map model names to prices"),
        ('{"prices": {"replicate": {"m": 1}}}', "replicate/m: expected an object"),
        ('{"prices": {"replicate": {"m": {"input_per_mtok": 1}}}}', "replicate/m: missing output_per_mtok"),
        (
            '{"prices": {"replicate": {"m": {"input_per_mtok": -1, "output_per_mtok": 1}}}}',
            "input_per_mtok must be a finite number >= 0, got -1",
        ),
        (
            '{"prices": {"replicate": {"m": {"input_per_mtok": 1, "output_per_mtok": "2"}}}}',
            "output_per_mtok must be a number, got string",
        ),
        (
            '{"prices": {"x": {"m": {"input_per_mtok": 1, "output_per_mtok": 2, "cache_write_per_mtk": 3}}}}',
            "x/m: unknown key 'cache_write_per_mtk' \\(did you mean 'cache_write_per_mtok'\\?\\)",
        ),
        (
            '{"prices":{"x":{"m":{"input_per_mtok":1,"output_per_mtok":2,"cache_write_1h_per_mtok":-4}}}}',
            "x/m: cache_write_1h_per_mtok must be a finite number >= 0, got -4",
        ),
    ],
)
def test_malformed_override_tables_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_overrides(raw)


def test_parse_custom_cost() -> None:
    parsed = parse_custom_cost('{"per_token_in": 0.000001, "per_token_out": 0.000002}')
    assert parsed == CustomCost(per_token_in=0.000001, per_token_out=0.000002)
    assert parse_custom_cost('{"per_token_in":0,"per_token_out":3}') == CustomCost(0.0, 3.0)
    full = parse_custom_cost(
        '{"per_token_in": 1e-6, "per_token_out": 2e-6, "per_cache_read_token": 1e-7, '
        '"per_cache_write_token": 1.25e-6, "note": "ignored"}'
    )
    assert full == CustomCost(1e-6, 2e-6, per_cache_read_token=1e-7, per_cache_write_token=1.25e-6)


def test_custom_cost() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500, cached_tokens=400)
    assert CustomCost(1e-6, 2e-6).cost(usage) == pytest.approx(1_000 * 1e-6 + 500 * 2e-6)
    with_cache = CustomCost(1e-6, 2e-6, per_cache_read_token=1e-7)
    assert with_cache.cost(usage) == pytest.approx(600 * 1e-6 + 400 * 1e-7 + 500 * 2e-6)


def test_web_searches_are_priced_per_search_and_left_out_of_a_custom_cost(table: PriceTable) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500, web_searches=3)
    tokens = (1_000 * 3.00 + 500 * 15.00) / 1e6
    assert table.cost("anthropic", "claude-sonnet-4-6", usage) == pytest.approx(tokens + 3 * 0.01)
    base = table.rates("anthropic", "claude-sonnet-4-6")
    # A custom cost prices tokens: one side of it names, the other the table's, no search either way.
    assert CustomCost(per_token_in=1e-6).over(base).cost(usage) == pytest.approx(1_000e-6 + 500 * 15e-6)
    assert CustomCost(per_token_out=1e-6).over(base).cost(usage) == pytest.approx(1_000 * 3e-6 + 500e-6)


def test_custom_cost_prices_cache_writes_of_any_ttl() -> None:
    usage = Usage(
        input_tokens=1_000,
        output_tokens=500,
        cached_tokens=400,
        cache_write_tokens=300,
        cache_write_1h_tokens=100,
    )
    both = CustomCost(1e-6, 2e-6, per_cache_read_token=1e-7, per_cache_write_token=1.5e-6)
    assert both.cost(usage) == pytest.approx(300 * 1e-6 + 400 * 1e-7 + 300 * 1.5e-6 + 500 * 2e-6, rel=1e-12)
    # Without a write price, writes are input tokens like any other.
    assert CustomCost(1e-6, 2e-6).cost(usage) == pytest.approx(1_000 * 1e-6 + 500 * 2e-6, rel=1e-12)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "not valid JSON"),
        ("per_token_in=1", "not valid JSON"),
        ('{"per_token_in": 1e-6,', "not valid JSON"),
        ('{"per_token_in": NaN, "per_token_out": 1}', "not valid JSON"),
        ('{"per_token_in": 1e999, "per_token_out": 1}', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('"text"', "expected a JSON object, got string"),
        ("0.5", "expected a JSON object, got number"),
        ("null", "expected a JSON object, got null"),
        ("{}", "names no price: give per_token_in and/or per_token_out"),
        ('{"note": 1}', "names no price"),
        ('{"total_cost": 0.5, "per_token_in": 1e-6}', "total_cost prices the whole request: send it without"),
        ('{"per_token_out": 1, "per_cache_read_token": 0}', "per_cache_read_token price parts of the input"),
        ('{"total_cost": -1}', "total_cost must be a finite number >= 0, got -1"),
        ('{"total_cots": 0.5}', "unknown key 'total_cots'; did you mean 'total_cost'"),
        ('{"per_token_in": "0.1", "per_token_out": 1}', "per_token_in must be a number, got string"),
        ('{"per_token_in": 1, "per_token_out": true}', "per_token_out must be a number, got boolean"),
        ('{"per_token_in": null, "per_token_out": 1}', "per_token_in must be a number, got null"),
        ('{"per_token_in": [1], "per_token_out": 1}', "per_token_in must be a number, got array"),
        ('{"per_token_in": 1, "per_token_out": {}}', "per_token_out must be a number, got object"),
        (
            '{"per_token_in": -0.000001, "per_token_out": 1}',
            "per_token_in must be a finite number >= 0, got -1e-06",
        ),
        ('{"per_token_in": 1, "per_token_out": -2}', "per_token_out must be a finite number >= 0, got -2"),
        (
            '{"per_token_in": 1, "per_token_out": 2, "per_cache_read_token": -1}',
            "per_cache_read_token must be a finite number >= 0",
        ),
    ],
)
def test_malformed_custom_cost_is_refused(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_custom_cost(header)
    assert str(caught.value).startswith("cf-aig-custom-cost: ")


def test_prices_a_rate_card_cannot_express_fall_back_to_genai_prices() -> None:
    # No such price exists in today's data; a future one must still be priced, by genai-prices.
    provider = next(p for p in price_data if p.id == "openai")
    odd = ModelInfo(
        id="odd",
        match=model_in_data("openai", "gpt-4o-mini").match,
        prices=ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2), mystery_mtok=Decimal(5)),
    )
    assert _compile(odd) is None
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    with pytest.warns(UserWarning, match="mystery_mtok"):
        assert _LibraryPricer(odd, provider).cost(usage) == pytest.approx(3.0)
