"""The `cf-aig-*` retry headers: a request's (or a universal step's own) over the gateway's defaults.

Cloudflare documents the attempts as "maximum of 5 tries" and the delay as "maximum of 5 seconds"
(https://developers.cloudflare.com/ai-gateway/configuration/request-handling/#request-retries), and no
refusal: a number past them is taken into the range, as an out-of-range `cf-aig-cache-ttl` is
(cache_asks.py), and the answer says so in `x-sluicegate-warning` (pipeline/resolve.py). A value that
is no whole number, or a backoff that is none of the three, is still a 400 naming the header.
"""

from __future__ import annotations

from multidict import CIMultiDictProxy, MultiMapping

from sluicegate.errors import BadRequest
from sluicegate.exchange import RetryPolicy
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.header_values import whole_number
from sluicegate.types import Backoff

TIMEOUT_HEADER = "cf-aig-request-timeout"
MAX_ATTEMPTS_HEADER = "cf-aig-max-attempts"
RETRY_DELAY_HEADER = "cf-aig-retry-delay"
BACKOFF_HEADER = "cf-aig-backoff"
RETRY_HEADERS = (TIMEOUT_HEADER, MAX_ATTEMPTS_HEADER, RETRY_DELAY_HEADER, BACKOFF_HEADER)
_UNIT_OF = {TIMEOUT_HEADER: "ms", MAX_ATTEMPTS_HEADER: "attempts", RETRY_DELAY_HEADER: "ms"}
MAX_ATTEMPTS = 5
MAX_RETRY_DELAY_MS = 5000


def policy_from_headers(
    headers: CIMultiDictProxy[str], settings: GatewaySettings, warnings: list[str] | None = None
) -> RetryPolicy:
    """The gateway's defaults, overridden by this request's `cf-aig-*` retry headers."""
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        delay_ms=settings.retry_delay_ms,
        backoff=settings.backoff,
        timeout_ms=settings.request_timeout_ms,
    )
    return policy_over(headers, policy, warnings)


def policy_over(
    headers: MultiMapping[str], policy: RetryPolicy, warnings: list[str] | None = None
) -> RetryPolicy:
    """`policy` changed by the `cf-aig-*` retry headers among `headers` (a request's or a universal
    step's own); `BadRequest` for one it cannot read. A number past its range is taken into it
    (see the module's docstring), with what was taken appended to `warnings`."""
    if not any(name in headers for name in RETRY_HEADERS):
        return policy
    said = warnings if warnings is not None else []
    return RetryPolicy(
        max_attempts=_int_header(headers, MAX_ATTEMPTS_HEADER, 1, MAX_ATTEMPTS, policy.max_attempts, said),
        delay_ms=_int_header(headers, RETRY_DELAY_HEADER, 0, MAX_RETRY_DELAY_MS, policy.delay_ms, said),
        backoff=_backoff(headers.get(BACKOFF_HEADER), BACKOFF_HEADER, policy.backoff),
        timeout_ms=_int_header(headers, TIMEOUT_HEADER, 1, None, policy.timeout_ms, said),
    )


def _int_header(
    headers: MultiMapping[str],
    name: str,
    low: int,
    high: int | None,
    default: int | None,
    warnings: list[str],
) -> int:
    value = headers.get(name)
    if value is None:
        return default  # type: ignore[return-value]  # callers pass None only for optional fields
    text = value.strip()
    if high is not None and text.isascii() and text.isdigit() and len(text.lstrip("0")) > len(str(high)):
        number = high + 1  # above it, however long (whole_number refuses more than 15 digits)
    else:
        number = whole_number(name, value, _UNIT_OF[name])
    if high is not None and number > high:
        warnings.append(f"{name} is above the maximum of {high} {_UNIT_OF[name]}; {high} is used")
        return high
    if number < low:
        if high is None:  # a timeout of 0 ms: no documented range to take it into
            raise BadRequest(f"{name} must be at least {low}, got {number}", header=name)
        warnings.append(f"{name} is below the minimum of {low}; {low} is used")
        return low
    return number


def _backoff(value: str | None, name: str, default: Backoff) -> Backoff:
    if value is None:
        return default
    try:
        return Backoff(value.strip().lower())
    except ValueError:
        choices = ", ".join(b.value for b in Backoff)
        raise BadRequest(f"{name} must be one of {choices}, got {value!r}", header=name) from None
