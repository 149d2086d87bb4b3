"""Cross-origin requests to the proxy endpoints (CORS), from a web page on another origin.

A browser first sends a preflight, `OPTIONS` with `Origin` and `Access-Control-Request-Method`,
which by the Fetch standard carries no credentials: the gateway answers it itself (`preflight`),
unauthenticated, never forwarded to a provider nor logged. The answer it then gives the request
itself carries `Access-Control-Allow-Origin` and `-Expose-Headers` (`allow`), so the page can read it
and its `cf-aig-*`, `x-ratelimit-*` and `Retry-After` headers.

Who may: a request that carries a gateway token (`cf-aig-authorization`, `Fastly-Key`,
`x-sluicegate-token`) or a provider key of its own (`Authorization`, `x-api-key`, `api-key`,
`x-goog-api-key`: `CREDENTIAL_HEADERS`); its preflight names the header. The gateway checks a token
wherever one is sent, open gateways included, so a page must hold a valid one, like any other
client. A request from a page (it sends `Origin`) without a token never runs on credentials the
gateway stores, whatever it carries (pipeline/keys.py `refuse_pages_on_stored_keys`: a universal
step's or a custom provider's credentials are not the request's headers), so a page spends only
the key it brings; so a universal request whose every step brings the page's key in its own
`headers` is read as one with the key in a header (a preflight shows no body, so one must still
name a token's or a key's header: such a page sends its body as `text/plain`, which needs no
preflight). A preflight that names neither is refused: on an open gateway with stored keys,
any site a user visits (one that can reach the gateway: on localhost, in an intranet) could spend
them and read the answers. The admin API, the dashboard and `/metrics` never answer cross-origin
requests.

A provider's own `Access-Control-*` headers never reach a cross-origin page: the gateway's policy,
not the provider's, decides (a provider's `*` would open the answers to a stored key to any site).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import Forbidden
from sluicegate.pipeline.auth import TOKEN_HEADERS
from sluicegate.providers import CREDENTIAL_HEADERS

MAX_AGE = "600"  # seconds a browser may keep a preflight's answer
# What a page reads without being told (the CORS-safelisted response headers), or never may.
_UNLISTED = frozenset(
    {
        "cache-control", "content-language", "content-length", "content-type", "expires",
        "last-modified", "pragma", "set-cookie", "set-cookie2",
    }
)  # fmt: skip
_PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
# A request carrying one of these runs on a gateway token's rights or on a key of its own, never
# on a key the gateway stores: a page may read its answer.
_ADMITTING = frozenset((*TOKEN_HEADERS, *CREDENTIAL_HEADERS))


def is_preflight(request: web.Request) -> bool:
    return hdrs.ORIGIN in request.headers and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers


def preflight(request: web.Request, methods: str | None = None) -> web.Response:
    """The answer to a preflight: 204 allowing its origin, method (`methods`, else the one asked)
    and headers when the request will carry a gateway token or a provider key, else a 403 that
    says why."""
    headers = request.headers
    asked = headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")
    if not _names_a_token(asked):
        error = Forbidden(
            "a cross-origin request to the gateway must carry a gateway token (one of"
            f" {', '.join(TOKEN_HEADERS)}) or a provider key of its own (one of"
            f" {', '.join(CREDENTIAL_HEADERS)}); a page that brings neither would be spending keys"
            " the gateway stores",
            headers={hdrs.VARY: _PREFLIGHT_VARY},
            token_headers=list(TOKEN_HEADERS),
            key_headers=list(CREDENTIAL_HEADERS),
        )
        return web.Response(
            status=error.status, headers=error.headers, body=error.body(), content_type="application/json"
        )
    allowed = {
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: headers[hdrs.ORIGIN],
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: methods or headers[hdrs.ACCESS_CONTROL_REQUEST_METHOD],
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: asked,
        hdrs.ACCESS_CONTROL_MAX_AGE: MAX_AGE,
        hdrs.VARY: _PREFLIGHT_VARY,
    }
    return web.Response(status=204, headers=allowed)


def _names_a_token(asked: str) -> bool:
    """Whether `Access-Control-Request-Headers` (a comma-separated list of names) names a gateway
    token's or a provider key's header."""
    return any(name.strip().lower() in _ADMITTING for name in asked.split(","))


def allow(
    request_headers: CIMultiDictProxy[str], headers: CIMultiDict[str], *, own_keys: bool = False
) -> None:
    """Label the answer `headers` to a request from another origin (it has an `Origin`): the
    provider's `Access-Control-*` headers out, the gateway's in when the request carries a token
    or a provider key of its own: in a header, or (`own_keys`: `pipeline.keys.on_own_keys`) in
    every one of its steps (a universal step's own `headers`)."""
    for name in [name for name in headers if name.lower().startswith("access-control-")]:
        headers.popall(name)
    if not own_keys and not any(request_headers.get(name) for name in _ADMITTING):
        return
    exposed = {name.lower() for name in headers} - _UNLISTED
    headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = request_headers[hdrs.ORIGIN]
    if exposed:
        headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = ", ".join(sorted(exposed))
    headers.add(hdrs.VARY, hdrs.ORIGIN)
