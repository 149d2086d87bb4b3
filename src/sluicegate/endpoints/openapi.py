"""The admin API's OpenAPI 3.1 document, generated from the pydantic schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from sluicegate import __version__
from sluicegate.analytics import AnalyticsResult
from sluicegate.endpoints.custom_providers import (
    CustomProviderIn,
    CustomProviderList,
    CustomProviderOut,
    CustomProviderUpdate,
)
from sluicegate.endpoints.schemas import (
    AuditList,
    GatewayCreate,
    GatewayList,
    GatewayOut,
    GatewayUpdate,
    GatewayUrlList,
    KeyIn,
    KeyList,
    KeyOut,
    KeyUpdate,
    LogEntry,
    LogPage,
    PurgeResult,
    ReplicaStatus,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    TokenUpdate,
)
from sluicegate.feedback import Feedback
from sluicegate.semantic_report import SemanticReport
from sluicegate.spend import SpendResult

SCHEMAS = (
    AnalyticsResult, SemanticReport, SpendResult,
    GatewayCreate, GatewayUpdate, GatewayOut, GatewayList, LogEntry, LogPage, PurgeResult,
    TokenCreate, TokenCreated, TokenOut, TokenUpdate, TokenList, KeyIn, KeyOut, KeyList, KeyUpdate,
    AuditList,
    GatewayUrlList, Feedback, ReplicaStatus,
    CustomProviderIn, CustomProviderUpdate, CustomProviderOut, CustomProviderList,
)  # fmt: skip
_REF = "#/components/schemas/{model}"
_LOG_FILTERS = {
    "from": "epoch seconds or ISO 8601: records at or after this time",
    "to": "epoch seconds or ISO 8601: records before this time",
    "provider": "provider slug",
    "model": "model name",
    "status": "a status code (429) or class (5xx)",
    "cached": "true: cache hits only; false: everything else",
    "feedback": "-1, 0 or 1: records given that feedback",
    "score_min": "records scored at least this (0-100)",
    "score_max": "records scored at most this (0-100)",
    "cursor": "next_cursor of the previous page",
    "limit": "page size, 1-1000 (default 50)",
}
_ERRORS = {
    "400": {"description": "invalid input; the error names the field"},
    "401": {"description": "no token, or an invalid, expired or revoked one"},
    "403": {
        "description": "the token lacks the scope, belongs to another account, is limited to other"
        " gateways, or is limited to some gateways on a route that acts on the whole account"
    },
    "404": {"description": "no such account, gateway or record"},
}


def _param(name: str, where: str = "path", description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": {"type": "string"},
    }


_GATEWAY_PAGE = [
    _param("limit", "query", "page size, 1-1000 (default: every gateway on one page)"),
    _param("cursor", "query", "next_cursor of the previous page"),
]


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}


def _operation(summary: str, status: str, answer: str | None, body: str | None = None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": summary}
    if answer is not None:
        ok["content"] = _json(answer)
    operation: dict[str, Any] = {"summary": summary, "responses": {status: ok, **_ERRORS}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _route_paths(routes: str) -> dict[str, Any]:
    """Dynamic routes and their versions (docs/routing.md); bodies are route nodes as JSON."""
    one = routes + "/{name}"
    at = [_param("account"), _param("gateway")]
    put = _operation("Set a route (a node); it becomes the route's next version", "200", None)
    node = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    put["requestBody"] = node
    validate = _operation("Check a route (a node) without saving it; a 400 names the bad path", "200", None)
    validate["requestBody"] = node
    return {
        routes: {"parameters": at, "get": _operation("Every route: name, version, route", "200", None)},
        one: {
            "parameters": [*at, _param("name")],
            "get": _operation("One route: name, version, route", "200", None),
            "put": put,
            "delete": _operation("Remove a route (recorded as a version)", "204", None),
        },
        one + "/versions": {
            "parameters": [*at, _param("name")],
            "get": _operation("Every version of a route, newest first", "200", None),
        },
        one + "/versions/{version}/restore": {
            "parameters": [*at, _param("name"), _param("version")],
            "post": _operation("Save an earlier version again, as the route's next version", "200", None),
        },
        one + "/validate": {"parameters": [*at, _param("name")], "post": validate},
    }


@cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema([(m, "serialization") for m in SCHEMAS], ref_template=_REF)
    gateways = "/api/v1/accounts/{account}/gateways"
    one = gateways + "/{gateway}"
    account = "/api/v1/accounts/{account}"
    keys = one + "/provider-keys"
    purge = _operation(
        "Purge cached answers (all, or `?key=` for one cf-aig-cache-key)", "200", "PurgeResult"
    )
    purge["parameters"] = [
        _param("key", "query", "purge only the entries stored under this cf-aig-cache-key")
    ]
    analytics = _operation(
        "Totals and a time series of requests, tokens, cost, cache and latency", "200", "AnalyticsResult"
    )
    analytics["parameters"] = [
        _param(name, "query", text)
        for name, text in {
            "from": "epoch seconds or ISO 8601 (default: 24 h before `to`)",
            "to": "epoch seconds or ISO 8601 (default: now)",
            "interval": "minute, hour or day (default: chosen from the range)",
            "gateway": "only this gateway",
            "provider": "only this provider",
            "model": "only this model",
        }.items()
    ]
    semantic = _operation(
        "The semantic cache's threshold what-if (hits and savings for 0.70-0.99) and shadow precision",
        "200",
        "SemanticReport",
    )
    semantic["parameters"] = [
        _param(name, "query", text)
        for name, text in {
            "from": "epoch seconds or ISO 8601 (default: 24 h before `to`)",
            "to": "epoch seconds or ISO 8601 (default: now)",
            "gateway": "only this gateway",
        }.items()
    ]
    spend = _operation(
        "The top spenders per token, user, team or model, their trend and remaining budgets",
        "200",
        "SpendResult",
    )
    spend["parameters"] = [
        _param(name, "query", text)
        for name, text in {
            "by": "token, user, team or model (default token)",
            "since": "epoch seconds, ISO 8601, or a span back from `until` such as 7d (default 30d)",
            "until": "epoch seconds or ISO 8601 (default: now)",
            "gateway": "only this gateway",
            "key": "only this spender (its token id, user, team or model), for its trend",
            "limit": "how many top spenders, 1-1000 (default 50)",
            "interval": "hour or day, for the trend (default chosen from the range)",
        }.items()
    ]
    list_logs = _operation("List log records, newest first", "200", "LogPage")
    list_logs["parameters"] = [_param(name, "query", text) for name, text in _LOG_FILTERS.items()]
    account_logs = _operation(
        "List log records of every gateway the token reaches, newest first", "200", "LogPage"
    )
    account_logs["parameters"] = [
        _param("gateway", "query", "only this gateway"),
        *list_logs["parameters"],
    ]
    export = _operation(
        "Export log records as NDJSON, oldest first: every field (bodies as text, or `base64:` and"
        " base64) and a `cursor`; `?cursor=` with the last line's continues an interrupted export",
        "200",
        None,
    )
    export["responses"]["200"]["content"] = {"application/x-ndjson": {"schema": {"type": "string"}}}
    export["parameters"] = [
        _param(name, "query", text)
        for name, text in (_LOG_FILTERS | {
            "to": "epoch seconds or ISO 8601: records before this time (default: when the export starts)",
            "cursor": "the `cursor` of the last line received: continues that export (alone suffices)",
            "limit": "at most this many records (default: all)",
        }).items()
    ]  # fmt: skip
    feedback = _operation(
        "Give a record feedback (-1, 0, 1), a score (0-100) and metadata (merged); needs the"
        " `feedback` scope",
        "200",
        "LogEntry",
        body="Feedback",
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sluicegate admin API", "version": __version__},
        "paths": {
            gateways: {
                "parameters": [_param("account")],
                "get": _operation("List gateways (those the token may use)", "200", "GatewayList")
                | {"parameters": _GATEWAY_PAGE},
                "post": _operation("Create a gateway", "201", "GatewayOut", body="GatewayCreate"),
            },
            one: {
                "parameters": [_param("account"), _param("gateway")],
                "get": _operation("Get a gateway", "200", "GatewayOut"),
                "patch": _operation("Update a gateway", "200", "GatewayOut", body="GatewayUpdate"),
                "delete": _operation("Delete a gateway", "204", None),
            },
            account + "/logs": {"parameters": [_param("account")], "get": account_logs},
            one + "/logs": {"parameters": [_param("account"), _param("gateway")], "get": list_logs},
            one + "/logs/export": {"parameters": [_param("account"), _param("gateway")], "get": export},
            one + "/logs/{log_id}": {
                "parameters": [_param("account"), _param("gateway"), _param("log_id")],
                "get": _operation("One log record with masked headers and bodies", "200", "LogEntry"),
                "patch": feedback,
            },
            one + "/urls": {
                "parameters": [_param("account"), _param("gateway")],
                "get": _operation(
                    "The gateway's endpoint per provider, and the openai SDK's base_url for each",
                    "200",
                    "GatewayUrlList",
                ),
            },
            one + "/cache": {"parameters": [_param("account"), _param("gateway")], "delete": purge},
            **_route_paths(one + "/routes"),
            "/api/v1/whoami": {"get": _operation("The calling token", "200", "TokenOut")},
            "/api/v1/status": {
                "get": _operation(
                    "The answering replica's state: its log spool's backlog (records waiting for the"
                    " database) and Redis reachability",
                    "200",
                    "ReplicaStatus",
                )
            },
            "/api/v1/cache/expire": {
                "post": _operation(
                    "Purge every cached answer of the token's account, or of its gateways if it is"
                    " limited to some (also at /ai_accelerator/expire)",
                    "200",
                    "PurgeResult",
                )
            },
            account + "/tokens": {
                "parameters": [_param("account")],
                "get": _operation("List tokens (never their secrets)", "200", "TokenList"),
                "post": _operation(
                    "Create a token; its secret is shown once", "201", "TokenCreated", "TokenCreate"
                ),
            },
            account + "/tokens/{token_id}": {
                "parameters": [_param("account"), _param("token_id")],
                "patch": _operation(
                    "Change a token's name, rules, allowed models and providers, or metadata",
                    "200",
                    "TokenOut",
                    "TokenUpdate",
                ),
                "delete": _operation("Revoke a token", "204", None),
            },
            keys: {
                "parameters": [_param("account"), _param("gateway")],
                "get": _operation("Stored provider keys (fingerprints, weights, states)", "200", "KeyList"),
            },
            keys + "/{provider}": {
                "parameters": [_param("account"), _param("gateway"), _param("provider")],
                "put": _operation("Store (seal) the provider key named default", "201", "KeyOut", "KeyIn"),
                "delete": _operation("Delete the stored provider key named default", "204", None),
            },
            keys + "/{provider}/{name}": {
                "parameters": [_param("account"), _param("gateway"), _param("provider"), _param("name")],
                "put": _operation(
                    "Store (seal) a named key of the provider's pool", "201", "KeyOut", "KeyIn"
                ),
                "patch": _operation(
                    "Change a stored key's weight, or enable or disable it", "200", "KeyOut", "KeyUpdate"
                ),
                "delete": _operation("Delete a named stored key", "204", None),
            },
            account + "/custom-providers": {
                "parameters": [_param("account")],
                "get": _operation(
                    "The account's custom providers (header names only)", "200", "CustomProviderList"
                ),
                "post": _operation(
                    "Create a custom provider, reached as custom-{slug}",
                    "201",
                    "CustomProviderOut",
                    "CustomProviderIn",
                ),
            },
            account + "/custom-providers/{provider}": {
                "parameters": [_param("account"), _param("provider", description="its id or slug")],
                "get": _operation("One custom provider", "200", "CustomProviderOut"),
                "patch": _operation(
                    "Change a custom provider (the fields given)",
                    "200",
                    "CustomProviderOut",
                    "CustomProviderUpdate",
                ),
                "delete": _operation("Delete a custom provider", "204", None),
            },
            account + "/analytics": {"parameters": [_param("account")], "get": analytics},
            account + "/analytics/semantic": {"parameters": [_param("account")], "get": semantic},
            account + "/spend": {"parameters": [_param("account")], "get": spend},
            account + "/audit": {
                "parameters": [_param("account"), _param("limit", "query", "how many entries (≤ 1000)")],
                "get": _operation("Admin actions, newest first", "200", "AuditList"),
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
