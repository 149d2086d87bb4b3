"""A universal request whose one step is `"provider": "compat"`: the compat request it stands for.

Cloudflare's dynamic routing page calls a route from a Worker as `env.AI.gateway(id).run({provider:
"compat", endpoint: "chat/completion", headers: {}, query: {model: "dynamic/<route>", messages}})`
(https://developers.cloudflare.com/ai-gateway/features/dynamic-routing/usage/). Such a step is the
compat endpoint's request: `POST …/compat/{endpoint}` with the step's `query` as its body and the
step's headers over the request's gateway headers (its `authorization` as `Authorization`, the key
the compat endpoint takes; no other header of the request's goes upstream, as for any step). The
compat planner plans it (`{provider}/{model}` translated where the provider needs it,
`dynamic/<route>` into the route's targets) and the Plan stage puts that request in place of the
universal one, so every later stage (guardrails, caches, translations, the log) serves it as the
compat endpoint does.

The compat endpoint plans its own fallbacks (a route's targets), whose steps have no place among
a universal request's; so a compat step must be the request's only step: among others it is a 400
saying what to send instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import BadRequest
from sluicegate.exchange import IncomingRequest
from sluicegate.providers.base import Route
from sluicegate.upstream_headers import is_gateway_header

COMPAT = "compat"
CHAT = "chat/completions"
# The compat endpoint's paths a step may name; Cloudflare's Worker example writes `chat/completion`.
_PATHS = {CHAT: CHAT, "chat/completion": CHAT, "embeddings": "embeddings"}


def _read(name: str) -> bool:
    return is_gateway_header(name) or name.lower() == "cache-control"


def is_compat(provider: str) -> bool:
    """Whether a universal step names the compat endpoint (in any case, as providers are read)."""
    return provider.lower() == COMPAT


def only_step(index: int) -> BadRequest:
    """The 400 for a compat step beside others."""
    return BadRequest(
        f"step {index}: provider: a compat step must be the universal request's only step: the compat"
        " endpoint plans its own fallbacks. For fallbacks across providers, send one compat step whose"
        ' model is a "dynamic/<route>" with them as its targets, or name each step\'s provider itself'
        ' ("provider": "anthropic", its own endpoint and body)',
        step=index,
        field="provider",
    )


def compat_request(
    request: IncomingRequest,
    endpoint: str,
    headers: Mapping[str, str],
    authorization: str | None,
    body: bytes,
) -> IncomingRequest:
    """The compat request the universal `request`'s one step (`endpoint`, `headers`, `authorization`
    and `body`, its `query`) stands for."""
    path, _, query = endpoint.lstrip("/").partition("?")
    served = _PATHS.get(path)
    if served is None:
        raise BadRequest(
            f"step 0: endpoint: a compat step's endpoint is one of the compat endpoint's paths,"
            f" {CHAT} or embeddings, not {path!r}",
            step=0,
            field="endpoint",
            endpoints=[CHAT, "embeddings"],
        )
    # As for any step, none of the request's own headers goes upstream: the gateway's are read
    # (over them the step's), as is its Cache-Control; the rest are the step's.
    merged = CIMultiDict((name, value) for name, value in request.headers.items() if _read(name))
    merged["Content-Type"] = "application/json"
    for name, value in headers.items():
        merged[name] = value
    if authorization is not None:
        merged["Authorization"] = authorization

    async def read_body() -> bytes:
        return body

    return replace(
        request,
        provider_name=COMPAT,
        kind=COMPAT,
        route=Route(request.account, served, query),
        headers=CIMultiDictProxy(merged),
        read_body=read_body,
    )
