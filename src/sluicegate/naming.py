"""How a finished exchange is named wherever it is reported (its log record, `/metrics`, its span):
the provider and the endpoint, read from the exchange alone so that the three always agree."""

from __future__ import annotations

from sluicegate.exchange import Exchange
from sluicegate.hosts import known_host

HOST_COMPAT = "host-compat"  # the kind of `/compat/openai/{host}/…` (endpoints/proxy.py)


def provider_and_endpoint(exchange: Exchange) -> tuple[str, str]:
    """The provider and endpoint. A host-in-path request refused before its plan (a bad token, a
    body its planner refuses) names its host's built-in provider as an answered one does
    (`openai`, `chat/completions`, not `api.openai.com`, `v1/chat/completions`), so a filter on the
    provider finds it; another host is named as itself."""
    request = exchange.request
    if exchange.step is None and request.upstream_host:
        known = known_host(request.upstream_host, request.route.path, request.kind == HOST_COMPAT)
        if known is not None:
            return known
    return exchange.provider_slug, _endpoint(exchange)


def _endpoint(exchange: Exchange) -> str:
    """The path the request went to upstream, else the one the client called: a count the gateway
    answered itself is logged as what it is, not as the chat request it was never sent as."""
    step = exchange.step
    if step is None or exchange.counted_by_gateway:
        return exchange.request.route.path
    return step.route.path
