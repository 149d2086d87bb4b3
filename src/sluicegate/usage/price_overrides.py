"""The packaged price override table (`price_overrides.json`, for models genai-prices lacks),
read into rate cards."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final

import orjson

from sluicegate.usage.rates import ImageRates, Pricer, Rates

OVERRIDES_RESOURCE: Final = "price_overrides.json"
_OVERRIDE_KEYS: Final = frozenset(
    {
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
        "cache_write_1h_per_mtok",
        "per_image",
        "comment",
    }
)


def packaged_overrides() -> bytes:
    return resources.files("sluicegate.usage").joinpath(OVERRIDES_RESOURCE).read_bytes()


def read_overrides(raw: bytes | str) -> dict[tuple[str, str], Pricer]:
    """Parse an override table (the format of price_overrides.json) into (provider, model) -> rates.

    Raises ValueError naming the entry at fault.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"price overrides: not valid JSON ({exc})") from None
    prices = document.get("prices") if isinstance(document, dict) else None
    if not isinstance(prices, dict):
        raise ValueError("price overrides: expected an object with a 'prices' object")
    table: dict[tuple[str, str], Pricer] = {}
    for provider, models in prices.items():
        if not isinstance(models, dict):
            raise ValueError(f"price overrides: {provider!r} must map model names to prices")
        for model, entry in models.items():
            where = f"price overrides: {provider}/{model}"
            if not isinstance(entry, dict):
                raise ValueError(f"{where}: expected an object")
            per_image = _per_image(entry.get("per_image"), where)
            missing = [key for key in ("input_per_mtok", "output_per_mtok") if key not in entry]
            if missing and per_image is None:
                raise ValueError(f"{where}: missing {' and '.join(missing)}")
            for key in entry.keys() - _OVERRIDE_KEYS:
                # A misspelt price would silently bill its tokens as input: refuse it.
                close = difflib.get_close_matches(key, _OVERRIDE_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{where}: unknown key {key!r}{hint}; known: {', '.join(sorted(_OVERRIDE_KEYS))}"
                )
            rates = Rates.per_million(
                non_negative(entry.get("input_per_mtok", 0), f"{where}: input_per_mtok"),
                non_negative(entry.get("output_per_mtok", 0), f"{where}: output_per_mtok"),
                _optional(entry, "cache_read_per_mtok", where),
                cache_write=_optional(entry, "cache_write_per_mtok", where),
                cache_write_1h=_optional(entry, "cache_write_1h_per_mtok", where),
            )
            table[provider, model.lower()] = rates if per_image is None else ImageRates(per_image, rates)
    return table


def _per_image(value: object, where: str) -> Mapping[str, float] | None:
    """`per_image`: USD per image by `"<quality> <size>"` (e.g. `"hd 1024x1792"`), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"{where}: per_image must be a non-empty object of USD per image by '<quality> <size>'"
        )
    return MappingProxyType(
        {str(key): non_negative(price, f"{where}: per_image[{key!r}]") for key, price in value.items()}
    )


def _optional(entry: dict[str, object], key: str, where: str) -> float | None:
    value = entry.get(key)
    return None if value is None else non_negative(value, f"{where}: {key}")


def non_negative(value: object, what: str) -> float:
    """`value` as a float, or ValueError unless it is a finite JSON number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {json_type(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
