"""Cloudflare's log listing and deletion parameters → a native `LogQuery`.

Filters come as `filters` objects `{key, operator, value: [...]}`; the official SDK sends them as
`filters.key`, `filters.operator` and `filters.value` parameters (see `_dotted`), and a JSON array
in one `filters` parameter is read as well. The older flat parameters (`model`,
`min_cost`, `start_date`, …) become the same conditions. Keys whose facts Sluicegate does not
record are refused with the reason, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from multidict import MultiMapping

from sluicegate.cfapi.envelope import Page
from sluicegate.cfapi.params import boolean, number, only
from sluicegate.endpoints.log_params import feedback_param, parse_time
from sluicegate.endpoints.query_params import provider_name
from sluicegate.errors import BadRequest
from sluicegate.hints import did_you_mean
from sluicegate.storage.base import LogCondition, LogField, LogOperator, LogQuery, LogValue
from sluicegate.storage.log_conditions import BOOLEAN, NUMERIC

FILTER_KEYS: Mapping[str, LogField] = {
    "id": "id",
    "created_at": "ts",
    "success": "success",
    "cached": "cached",
    "provider": "provider",
    "model": "model",
    "cost": "cost_usd",
    "tokens": "tokens",
    "tokens_in": "tokens_in",
    "tokens_out": "tokens_out",
    "duration": "latency_ms",
    "metadata.key": "metadata_key",
    "metadata.value": "metadata_value",
    "feedback": "feedback",
}
UNRECORDED: Mapping[str, str] = {
    "request_content_type": "content types are not stored with Sluicegate's log records",
    "response_content_type": "content types are not stored with Sluicegate's log records",
    "request_type": "Sluicegate does not record a request type",
    "model_type": "Sluicegate does not record a model type",
    "event_id": "Sluicegate records no event ids",
    "authentication": "whether a request carried a gateway token is not stored",
    "wholesale": "Sluicegate has no unified billing, so no request is wholesale",
    "compatibilityMode": "which endpoint answered is in `path`; it is not stored as a flag",
    "dlp_action": "Sluicegate has no DLP",
    "user_agent": "user agents are not stored as a field",
}
ORDER_KEYS: Mapping[str, LogField] = {
    "created_at": "ts",
    "provider": "provider",
    "model": "model",
    "success": "success",
    "cached": "cached",
    "cost": "cost_usd",
    "tokens_in": "tokens_in",
    "tokens_out": "tokens_out",
    "duration": "latency_ms",
}
_OPERATORS: Mapping[str, LogOperator] = {
    "eq": "eq",
    "neq": "neq",
    "contains": "contains",
    "lt": "lt",
    "gt": "gt",
}
_BOUNDS: Mapping[str, LogField] = {
    "cost": "cost_usd",
    "duration": "latency_ms",
    "tokens_in": "tokens_in",
    "tokens_out": "tokens_out",
    "total_tokens": "tokens",
}
_PARTS = ("key", "operator", "value")
_FLAGS: Mapping[str, LogField] = {"cached": "cached", "success": "success"}
_NAMES: Mapping[str, LogField] = {"model": "model", "provider": "provider"}
_DATES: Mapping[str, LogOperator] = {"start_date": "ge", "end_date": "le"}
_EDGES: Mapping[str, LogOperator] = {"min": "ge", "max": "le"}
_FLAT = (*_FLAGS, *_NAMES, *_DATES, "search")
LIST_PARAMS = (
    "page", "per_page", "order_by", "order_by_direction", "direction", "filters", "meta_info",
    *_FLAT, "feedback", *(f"{edge}_{name}" for name in _BOUNDS for edge in ("min", "max")),
    "model_type", "request_content_type", "response_content_type",
)  # fmt: skip
DELETE_PARAMS = ("filters", "limit", "order_by", "order_by_direction")


def list_query(account: str, gateway: str, params: MultiMapping[str], page: Page) -> LogQuery:
    """The query of `GET …/logs`: filters, flat filters, order, page."""
    only(params, *LIST_PARAMS)
    if "meta_info" in params:
        boolean(params["meta_info"], "meta_info")  # result_info always carries the counts
    conditions = [*_filters(params), *_flat(params)]
    return LogQuery(
        account=account,
        gateway=gateway,
        feedback=feedback_param(params.get("feedback")),  # the native filter: -1, 0 or 1
        conditions=tuple(conditions),
        order=_order(params),
        offset=page.offset,
        limit=page.per_page,
    )


def delete_query(account: str, gateway: str, params: MultiMapping[str]) -> LogQuery:
    """The query of `DELETE …/logs`: every record the filters select, or the first `limit` of
    them in the order given (oldest first by default)."""
    only(params, *DELETE_PARAMS)
    limit = -1
    if "limit" in params:
        limit = int(number(params["limit"], "limit"))
        if limit < 1:
            raise BadRequest(f"limit must be 1 or more, got {params['limit']!r}", param="limit")
    return LogQuery(
        account=account,
        gateway=gateway,
        conditions=tuple(_filters(params)),
        order=_order(params, "asc"),
        limit=limit,
    )


def _order(params: MultiMapping[str], default_direction: str = "desc") -> tuple[LogField, bool]:
    key = params.get("order_by", "created_at")
    if key in UNRECORDED:
        raise BadRequest(f"order_by {key!r} cannot be served: {UNRECORDED[key]}", param="order_by")
    if key not in ORDER_KEYS:
        raise BadRequest(f"order_by {key!r} is unknown{did_you_mean(key, ORDER_KEYS)}", param="order_by")
    name = "order_by_direction" if "order_by_direction" in params else "direction"
    direction = params.get(name, default_direction)
    if direction not in ("asc", "desc"):
        raise BadRequest(f"{name} must be asc or desc, got {direction!r}", param=name)
    return ORDER_KEYS[key], direction == "desc"


def _flat(params: MultiMapping[str]) -> list[LogCondition]:
    """The flat parameters (Cloudflare lists them as deprecated in favour of `filters`)."""
    for name in ("model_type", "request_content_type", "response_content_type"):
        if name in params:
            raise BadRequest(f"{name} cannot be filtered on: {UNRECORDED[name]}", param=name)
    conditions = []
    for name, field in _FLAGS.items():
        if name in params:
            conditions.append(LogCondition(field, "eq", (boolean(params[name], name),)))
    for name, field in _NAMES.items():
        if name in params:
            values = tuple(_value(field, value, name) for value in params.getall(name))
            conditions.append(LogCondition(field, "eq", values))
    if params.get("search"):
        conditions.append(LogCondition("text", "contains", (params["search"],)))
    for name, op in _DATES.items():
        if name in params:
            conditions.append(LogCondition("ts", op, (parse_time(params[name], name),)))
    for suffix, field in _BOUNDS.items():
        for edge, op in _EDGES.items():
            name = f"{edge}_{suffix}"
            if name in params:
                conditions.append(LogCondition(field, op, (number(params[name], name),)))
    return conditions


def _filters(params: MultiMapping[str]) -> list[LogCondition]:
    raw: list[dict[str, Any]] = []
    for text in params.getall("filters", []):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BadRequest(
                "filters must be a JSON array of {key, operator, value} objects, or sent as"
                " filters.key, filters.operator and filters.value parameters",
                param="filters",
            ) from None
        raw += parsed if isinstance(parsed, list) else [parsed]
    raw += _dotted(params)
    return [_condition(index, item) for index, item in enumerate(raw)]


def _dotted(params: MultiMapping[str]) -> list[dict[str, Any]]:
    """Filters sent as `filters.key`, `filters.operator` and `filters.value`. The SDK's query
    encoding groups repeated names (all keys, then all operators, then all values), so the i-th
    key, operator and value make the i-th filter; a lone filter takes every value."""
    for name in params:
        part = name.removeprefix("filters.")
        if name.startswith("filters.") and part not in _PARTS:
            raise BadRequest(f"unknown parameter {name!r}{did_you_mean(part, _PARTS)}", param=name)
    keys, operators, values = (params.getall(f"filters.{part}", []) for part in _PARTS)
    if not keys and not operators and not values:
        return []
    if len(keys) != len(operators) or not values:
        raise BadRequest(
            f"filters: each filter needs a key, an operator and a value; got {len(keys)} keys,"
            f" {len(operators)} operators and {len(values)} values",
            param="filters",
        )
    if len(keys) == 1:
        return [{"key": keys[0], "operator": operators[0], "value": values}]
    if len(values) != len(keys):
        raise BadRequest(
            f"filters: {len(keys)} filters with {len(values)} values cannot be told apart as query"
            " parameters (they arrive as one list); give each filter one value, or send `filters` as"
            " a JSON array",
            param="filters",
        )
    return [{"key": k, "operator": o, "value": [v]} for k, o, v in zip(keys, operators, values, strict=True)]


def _condition(index: int, item: Any) -> LogCondition:
    where = f"filters[{index}]"
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be an object {{key, operator, value}}", param="filters")
    for part in ("key", "operator", "value"):
        if part not in item:
            raise BadRequest(f"{where} has no {part}", param="filters")
    key, op, values = item["key"], item["operator"], item["value"]
    if not isinstance(key, str) or not isinstance(op, str):
        raise BadRequest(f"{where}: key and operator are strings", param="filters")
    if key in UNRECORDED:
        raise BadRequest(f"{where}: {key!r} cannot be filtered on: {UNRECORDED[key]}", param="filters")
    if key not in FILTER_KEYS:
        raise BadRequest(
            f"{where}: unknown key {key!r}{did_you_mean(str(key), FILTER_KEYS)}", param="filters"
        )
    if op not in _OPERATORS:
        raise BadRequest(
            f"{where}: unknown operator {op!r}{did_you_mean(str(op), _OPERATORS)}", param="filters"
        )
    field, operator = FILTER_KEYS[key], _OPERATORS[op]
    values = values if isinstance(values, list) else [values]
    if not values:
        raise BadRequest(f"{where} has no value", param="filters")
    if op == "contains" and (field in NUMERIC or field in BOOLEAN):
        raise BadRequest(f"{where}: {key} is not text, so `contains` does not apply to it", param="filters")
    if op in ("lt", "gt") and (len(values) != 1 or values[0] is None):
        raise BadRequest(f"{where}: `{op}` compares with one value, got {values!r}", param="filters")
    parsed = tuple(_value(field, value, f"{where} ({key})") for value in values)
    return LogCondition(field, operator, parsed)


def _value(field: LogField, value: Any, name: str) -> LogValue:
    if value is None:
        return None
    if field in BOOLEAN:
        return boolean(value if isinstance(value, bool) else str(value), name)
    if field == "ts":
        return parse_time(str(value), name)
    if field == "feedback":  # the SDK types values as numbers: 1.0 is the thumb 1
        shown = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        return feedback_param(shown)
    if field in NUMERIC:
        return number(value, name)
    if field == "provider":
        return provider_name(str(value))
    return str(value)
