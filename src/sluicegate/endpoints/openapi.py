"""The admin API's OpenAPI 3.1 document, generated from the pydantic schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from sluicegate import __version__
from sluicegate.endpoints.schemas import GatewayCreate, GatewayOut, GatewayUpdate, LogEntry, LogPage

_REF = "#/components/schemas/{model}"
_ACCOUNT = {"name": "account", "in": "path", "required": True, "schema": {"type": "string"}}
_GATEWAY = {"name": "gateway", "in": "path", "required": True, "schema": {"type": "string"}}
_LOG_FILTERS = [
    ("from", "epoch seconds or ISO 8601: records at or after this time"),
    ("to", "epoch seconds or ISO 8601: records before this time"),
    ("provider", "provider slug"),
    ("model", "model name"),
    ("status", "a status code (429) or class (5xx)"),
    ("cached", "true: cache hits only; false: everything else"),
    ("cursor", "next_cursor of the previous page"),
    ("limit", "page size, 1-1000 (default 50)"),
]


def _body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


def _answer(model: str | None, description: str = "OK") -> dict[str, Any]:
    if model is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


_ERRORS = {
    "400": {"description": "invalid input; the error names the field"},
    "404": {"description": "no such account, gateway or record"},
}


@cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "serialization") for m in (GatewayCreate, GatewayUpdate, GatewayOut, LogEntry, LogPage)],
        ref_template=_REF,
    )
    list_schema = {"type": "object", "properties": {"result": {"type": "array", "items": {"$ref": _REF.format(model="GatewayOut")}}}}
    gateways = "/api/v1/accounts/{account}/gateways"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sluicegate admin API", "version": __version__},
        "paths": {
            gateways: {
                "parameters": [_ACCOUNT],
                "get": {"summary": "List gateways", "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": list_schema}}}}},
                "post": {"summary": "Create a gateway", "requestBody": _body("GatewayCreate"), "responses": {"201": _answer("GatewayOut", "Created"), "409": {"description": "slug taken"}, **_ERRORS}},
            },
            gateways + "/{gateway}": {
                "parameters": [_ACCOUNT, _GATEWAY],
                "get": {"summary": "Get a gateway", "responses": {"200": _answer("GatewayOut"), **_ERRORS}},
                "patch": {"summary": "Update a gateway's name or settings", "requestBody": _body("GatewayUpdate"), "responses": {"200": _answer("GatewayOut"), **_ERRORS}},
                "delete": {"summary": "Delete a gateway", "responses": {"204": _answer(None, "Deleted"), **_ERRORS}},
            },
            gateways + "/{gateway}/logs": {
                "parameters": [_ACCOUNT, _GATEWAY],
                "get": {
                    "summary": "List log records, newest first",
                    "parameters": [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}} for n, d in _LOG_FILTERS],
                    "responses": {"200": _answer("LogPage"), **_ERRORS},
                },
            },
            gateways + "/{gateway}/logs/{log_id}": {
                "parameters": [_ACCOUNT, _GATEWAY, {"name": "log_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"summary": "One log record with headers (secrets masked) and bodies", "responses": {"200": _answer("LogEntry"), **_ERRORS}},
            },
        },
        "components": {"schemas": schemas["$defs"]},
    }  # fmt: skip
