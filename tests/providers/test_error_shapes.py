"""The gateway's own errors in Anthropic's and Google's shapes: every status the gateway answers
gets the type (Anthropic, https://docs.anthropic.com/en/api/errors) or google.rpc.Code name
(googleapis' HTTP mapping) its SDKs expect, and the gateway's detail stays where they do not look."""

from __future__ import annotations

import inspect

import orjson
import pytest

from sluicegate import errors
from sluicegate.providers import REGISTRY
from sluicegate.providers.anthropic.errors import ANTHROPIC_ERRORS
from sluicegate.providers.gemini.errors import GOOGLE_ERRORS

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "invalid_request_error",
    412: "invalid_request_error",
    413: "request_too_large",
    414: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    499: "invalid_request_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
}
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "FAILED_PRECONDITION",
    408: "FAILED_PRECONDITION",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    413: "FAILED_PRECONDITION",
    414: "FAILED_PRECONDITION",
    415: "FAILED_PRECONDITION",
    422: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    431: "FAILED_PRECONDITION",
    499: "CANCELLED",
    500: "INTERNAL",
    502: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
STATUSES = sorted(
    {c.status for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, errors.GatewayError)}
)


def test_every_status_the_gateway_answers_is_named_in_both_tables() -> None:
    assert STATUSES == sorted(ANTHROPIC_TYPES) == sorted(GOOGLE_STATUSES)


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_has_its_anthropic_type_and_google_status(status: int) -> None:
    error = errors.GatewayError("refused", rule={"limit": 1})
    body = error.body(param=False)
    anthropic = orjson.loads(ANTHROPIC_ERRORS.error(status, body))
    assert anthropic == {
        "type": "error",
        "error": {
            "type": ANTHROPIC_TYPES[status],
            "message": "refused",
            "code": "internal_error",
            "rule": {"limit": 1},
        },
    }
    google = orjson.loads(GOOGLE_ERRORS.error(status, body))
    assert google == {
        "error": {
            "code": status,
            "message": "refused",
            "status": GOOGLE_STATUSES[status],
            "sluicegate": {"code": "internal_error", "rule": {"limit": 1}},
        }
    }


def test_a_body_that_is_not_openais_keeps_its_text_as_the_message() -> None:
    assert orjson.loads(GOOGLE_ERRORS.error(502, b"bad gateway")) == {
        "error": {"code": 502, "message": "bad gateway", "status": "INTERNAL"}
    }


def test_only_anthropic_and_googles_apis_word_errors_otherwise_than_openai() -> None:
    shaped = {name: p.error_shape for name, p in REGISTRY.items() if p.error_shape is not None}
    assert shaped == {
        "anthropic": ANTHROPIC_ERRORS,
        "google-ai-studio": GOOGLE_ERRORS,
        "google-vertex-ai": GOOGLE_ERRORS,
    }
