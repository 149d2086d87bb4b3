"""Anthropic's error shape, `{"type": "error", "error": {"type", "message"}}`, with the types of
https://docs.anthropic.com/en/api/errors (a stream sends the same object as its `error` event).

Read where Anthropic's errors are translated for the unified endpoint (compat.py) and written
where the gateway answers in Anthropic's API: its own errors on the provider endpoint
(`ANTHROPIC_ERRORS`, the adapter's `error_shape`) and in the compat endpoint's Messages API
(ingress/anthropic_messages.py and anthropic_stream.py), so the format is known here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sluicegate.providers.error_shapes import error_message, openai_error

ERROR_TYPES: Final = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)
_STATUS_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


# Other providers' words for an overloaded server, translated to chat's error `code`: Google's
# status UNAVAILABLE (HTTP 503, "The model is overloaded"). Anthropic says it with `overloaded_error`.
_OVERLOADED_CODES: Final = frozenset({"unavailable"})


def error_kind(error: Mapping[str, Any], status: int | None) -> str:
    """The Anthropic type of an OpenAI-shaped `error` object answered with HTTP `status` (None: in
    a stream): its `code` when that is Anthropic's own (a translated Anthropic error),
    `overloaded_error` for another provider's overload (Google's UNAVAILABLE, an upstream's 503:
    Anthropic's own is HTTP 529, which the SDKs retry as they retry a 503), else by the status. The
    gateway's own 503s (a backend it needs is down) are not an overload: `api_error`."""
    code = error.get("code")
    if isinstance(code, str) and code in ERROR_TYPES:
        return code
    if (isinstance(code, str) and code.lower() in _OVERLOADED_CODES) or (
        status == 503 and error.get("type") != "sluicegate_error"
    ):
        return "overloaded_error"
    return "api_error" if status is None else error_type(status)


def error_type(status: int) -> str:
    """The type Anthropic gives an error answered with HTTP `status`."""
    return _STATUS_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(kind: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An error in Anthropic's shape; `details` go beside `type` and `message`."""
    return {"type": "error", "error": {"type": kind, "message": message, **(details or {})}}


def error_fields(document: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """The `message` and `type` of an Anthropic error document (None where it has none); either
    may be of any JSON type, as the document came from the wire."""
    error = document.get("error") if document is not None else None
    if not isinstance(error, Mapping):
        return None, None
    return error.get("message"), error.get("type")


@dataclass(frozen=True, slots=True)
class AnthropicErrors:
    """The `ErrorShape` of Anthropic's API. The SDKs read `error.type` and `error.message` (and
    `error.details`, which the gateway never sends); the gateway's own detail (`code`, `rule`,
    `providers`, …) stays beside them in `error`, for a person reading it."""

    openai_errors: bool = False  # Anthropic's errors name no field (`param`)
    says_wait: bool = False  # Retry-After only

    def error(self, status: int, body: bytes) -> bytes:
        error = dict(openai_error(body) or {})
        message = error_message(error, status, body)
        kind = error_kind(error, status)
        error.pop("type", None)
        return orjson.dumps(error_body(kind, message, error))


ANTHROPIC_ERRORS: Final = AnthropicErrors()
