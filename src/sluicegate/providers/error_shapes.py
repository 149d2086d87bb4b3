"""How an API words its errors, and how the gateway's own errors are said in it.

The gateway makes its errors in OpenAI's shape (errors.py) and renders them from there in the shape
of the API its client speaks: a provider endpoint's (`Provider.error_shape`: Anthropic's, Google's),
or a compat client API's (`IngressFormat`, ingress/, is an `ErrorShape` too). So an SDK reads the
gateway's 429 as it reads its provider's: Anthropic's `rate_limit_error`, Google's
`RESOURCE_EXHAUSTED`. Each shape keeps the gateway's own detail (`code`, the rule, …) in fields
its SDKs do not read.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson


class ErrorShape(Protocol):
    @property
    def openai_errors(self) -> bool:
        """Whether the shape is OpenAI's: then the gateway's own errors always carry `param`, the
        request field to blame (null when no one field is), as OpenAI's do; otherwise never (the
        shape has no such field)."""
        ...

    @property
    def says_wait(self) -> bool:
        """Whether the shape says in its body how long a refused client is to wait (Google's
        `RetryInfo`): then the gateway's own errors with a `Retry-After` carry it as `retry_after`
        in the OpenAI-shaped body `error` is given; otherwise the header alone says it."""
        ...

    def error(self, status: int, body: bytes) -> bytes:
        """An OpenAI-shaped error body (an upstream's, translated, or the gateway's own) in this
        shape, answered with HTTP `status`."""
        ...


def openai_error(body: bytes) -> dict[str, Any] | None:
    """The `error` object of an OpenAI-shaped error body, or None when it is not one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def error_message(error: dict[str, Any], status: int, body: bytes) -> str:
    """`error`'s message, taken out of it; for a body that is not OpenAI-shaped (an upstream's, on
    the compat endpoint), the start of the body itself, or a line that names the status."""
    message = error.pop("message", None)
    if isinstance(message, str):
        return message
    return body.decode("utf-8", "replace").strip()[:2000] or f"the provider answered HTTP {status}"
