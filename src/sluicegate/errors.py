"""The exception tree. Each error maps to one HTTP status and one JSON body.

    GatewayError
    ├── BadRequest              400  malformed input: JSON, headers, fields
    │   ├── GuardrailBlocked    400  the gateway's guardrails refused the request or its answer
    │   └── DuplicateKey        400  a body the guardrails read repeats a key in one object
    ├── Unauthorized            401  no gateway token, or one that is invalid, expired or revoked
    ├── Forbidden               403  a token without the scope or the gateway, a host not allowed
    ├── NotFound                404  unknown gateway, provider, route or record
    ├── MethodNotAllowed        405  a method the endpoint does not take (`Allow` names those it does)
    ├── RequestTimeout          408  the request body did not arrive within the body timeout
    ├── Conflict                409  a name already taken
    ├── PreconditionFailed      412  If-Match names a version of the gateway other than the stored one
    ├── PayloadTooLarge         413  body over the configured limit
    ├── UriTooLong              414  a request target longer than the HTTP parser reads
    ├── UnsupportedEncoding     415  a Content-Encoding the gateway cannot decode
    ├── UnpricedModel           422  a spend limit applies, but nothing prices the request's model
    ├── RateLimited             429  a rate or spend limit of the gateway refused the request
    │   ├── ReservationExceedsBudget 429  what the request may use (its answer's cap) is more than is left
    │   └── ProviderKeysCooling 429  every stored key of the provider cools down after the upstream's 429
    ├── HeadersTooLarge         431  a header line longer, or more header lines, than the parser reads
    ├── RouteMisconfigured      500  a stored dynamic route the gateway cannot use: its operator's to fix
    ├── UpstreamUnreachable     502  connection refused or reset before a response
    ├── UpstreamBroken          502  the upstream broke the response off
    ├── UpstreamMalformed       502  the upstream answered in a shape the gateway cannot translate
    │   └── UnreadableAnswer    502  an answer the guardrails cannot read, withheld (they check answers)
    ├── ServiceUnavailable      503  a backend the gateway needs is down (fail-closed)
    │   ├── ProviderKeysDisabled 503 the upstream refused every stored key of the provider (401/403)
    │   ├── GatewayStopping     503  the process began to stop before the request's body arrived
    │   └── GatewayOverloaded   503  out of file descriptors (or socket memory): no upstream socket
    └── UpstreamTimeout         504  no answer within the request's timeout

The body follows OpenAI's error shape, `{"error": {"message", "type", "code", ...}}`, so the
official SDKs show the message as they would a provider's own error. An answer to an OpenAI-shaped
request also carries `param`, as OpenAI's errors do: the request field to blame, or null.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}  # extra response headers, e.g. Retry-After

    def body(self, *, param: bool | None = None) -> bytes:
        """The JSON body. `param` is OpenAI's name for the request field to blame, its path as OpenAI
        spells it (`messages[0].role`), given as a detail (`BadRequest(..., param="model")`). With
        `param=True` the body always has it, null when the error names no one field, as OpenAI's own
        errors (an answer to an OpenAI-shaped request: the SDKs read it, `err.param`); with `False`
        never (another API's error shape is made from this body); by default, when given."""
        error: dict[str, Any] = {"message": self.message, "type": "sluicegate_error", "code": self.code}
        error.update(self.details)
        if param:
            error.setdefault("param", None)
        elif param is False:
            error.pop("param", None)
        return orjson.dumps({"error": error})


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class GuardrailBlocked(BadRequest):
    code = "guardrail_blocked"


class DuplicateKey(BadRequest):
    code = "duplicate_json_key"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class CredentialsNotAllowed(Forbidden):
    code = "credentials_not_allowed"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class UnknownGateway(NotFound):
    code = "unknown_gateway"


class UnknownAccount(UnknownGateway):
    code = "unknown_account"


class UnknownProvider(NotFound):
    code = "unknown_provider"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    status = 408
    code = "request_timeout"


class ClientGone(GatewayError):
    """The client hung up before the gateway had its request (logged as nginx's 499; no one reads
    the answer)."""

    status = 499
    code = "client_closed_request"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class PreconditionFailed(GatewayError):
    status = 412
    code = "precondition_failed"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class UriTooLong(GatewayError):
    status = 414
    code = "uri_too_long"


class UnsupportedEncoding(GatewayError):
    status = 415
    code = "unsupported_content_encoding"


class UnpricedModel(GatewayError):
    status = 422
    code = "unpriced_model"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"


class ReservationExceedsBudget(RateLimited):
    """A token or cost rule has room left, but not for what this request may use: the cap it sets on
    its answer (an SDK's large default `max_tokens`) is reserved whole before it is sent. Lowering
    the cap admits it now (pipeline/reservation_refusal.py words how)."""

    code = "reservation_exceeds_budget"


class HeadersTooLarge(GatewayError):
    status = 431
    code = "request_header_fields_too_large"


class RouteMisconfigured(GatewayError):
    """The dynamic route a request names is stored in a form this gateway cannot use (written by
    an older version, or into the database by hand): not the client's mistake. The problems are
    logged and shown on the gateway's admin read (`route_errors`), not to the client."""

    status = 500
    code = "route_misconfigured"


class ServiceUnavailable(GatewayError):
    status = 503
    code = "service_unavailable"


class GatewayStopping(ServiceUnavailable):
    """The process began to stop while the request's body was still on its way. The HTTP server
    takes no more bytes once it stops (aiohttp drops them), so the request is refused whole, at
    once, for the client to send again, rather than waiting out the body timeout (a 408)."""

    code = "gateway_stopping"


class GatewayOverloaded(ServiceUnavailable):
    """This process could not open a socket to the upstream (EMFILE: out of file descriptors): the
    gateway's own shortage, not the upstream's failure (upstream_connect.py)."""

    code = "gateway_overloaded"


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be read for something this replica has not seen yet."""

    code = "database_unavailable"


class ProviderKeysCooling(RateLimited):
    code = "provider_keys_cooling"


class ProviderKeysDisabled(ServiceUnavailable):
    code = "provider_keys_disabled"


class ProviderKeysRefusedModel(Forbidden):
    code = "provider_keys_refused_model"


class ProviderKeysSealed(GatewayError):
    """The provider's stored keys were sealed under another master key (`SLUICEGATE_SECRET_KEY`
    changed, or is unset): the gateway's own configuration, so no upstream is asked without them."""

    status = 500
    code = "provider_keys_sealed"


class UpstreamUnreachable(GatewayError):
    status = 502
    code = "upstream_unreachable"


class UpstreamBroken(GatewayError):
    status = 502
    code = "upstream_broken"


class UpstreamMalformed(GatewayError):
    status = 502
    code = "upstream_malformed"


class UnreadableAnswer(UpstreamMalformed):
    code = "guardrail_unreadable_answer"


class UpstreamTimeout(GatewayError):
    status = 504
    code = "upstream_timeout"
