"""Google's error shape, which Google AI Studio and Vertex AI share: `google.rpc.Status` as JSON,
`{"error": {"code": <HTTP status>, "message", "status": <google.rpc.Code name>}}`
(https://google.aip.dev/193, https://ai.google.dev/gemini-api/docs/troubleshooting).

Written where the gateway answers its own errors on their provider endpoints (`GOOGLE_ERRORS`, the
adapters' `error_shape`), so google-genai's `APIError` has its `status` (`RESOURCE_EXHAUSTED`) as
for Google's own. Vertex AI's front end answers its own refusals in this shape for every model it
serves, Claude's `rawPredict` included, so the gateway does too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sluicegate.providers.error_shapes import error_message, openai_error

# The HTTP → google.rpc.Code mapping of googleapis (google/rpc/code.proto's "HTTP Mapping" lines,
# and the table of RPC error code / HTTP mapping): other 4xx are FAILED_PRECONDITION, other 5xx
# INTERNAL.
_STATUS_NAMES: Final[Mapping[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    416: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Where the gateway's own detail goes: Google's `code`, `status` and `details` (typed messages,
# which Google's client libraries parse) mean something else, so it has a field of its own.
DETAIL_FIELD: Final = "sluicegate"
RETRY_INFO: Final = "type.googleapis.com/google.rpc.RetryInfo"


def status_name(status: int) -> str:
    """The google.rpc.Code name Google gives an error answered with HTTP `status`."""
    if named := _STATUS_NAMES.get(status):
        return named
    if 400 <= status < 500:
        return "FAILED_PRECONDITION"
    return "INTERNAL" if 500 <= status < 600 else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class GoogleErrors:
    """The `ErrorShape` of Google's APIs. The gateway's `code` and the rest of its detail (`rule`,
    `gateways`, …) go in `error.sluicegate`, which Google's SDKs do not read."""

    openai_errors: bool = False  # a google.rpc.Status names no field the way `param` does
    says_wait: bool = True  # RetryInfo's retryDelay

    def error(self, status: int, body: bytes) -> bytes:
        detail = dict(openai_error(body) or {})
        message = error_message(detail, status, body)
        detail.pop("type", None)  # always `sluicegate_error`: the field's name says as much
        error: dict[str, Any] = {"code": status, "message": message, "status": status_name(status)}
        wait = detail.pop("retry_after", None)  # the Retry-After of the gateway's own refusal
        if isinstance(wait, int) and not isinstance(wait, bool):
            # Where Google's 429 says when to come back, and what Google's clients parse.
            error["details"] = [{"@type": RETRY_INFO, "retryDelay": f"{wait}s"}]
        if detail:
            error[DETAIL_FIELD] = detail
        return orjson.dumps({"error": error})


GOOGLE_ERRORS: Final = GoogleErrors()


def retry_info_delay(body: bytes) -> float | None:
    """The `retryDelay` of a Google error's `RetryInfo` detail ("1s", "0.5s"), in seconds: Google
    says how long to wait in the body, not in a Retry-After header.
    https://cloud.google.com/apis/design/errors#error_details"""
    try:
        details = orjson.loads(body)["error"]["details"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    for detail in details if isinstance(details, list) else ():
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                return None
    return None
