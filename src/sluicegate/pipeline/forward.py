"""Forward: the last link. Builds the upstream request with the provider's adapter and sends it."""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp

from sluicegate.exchange import Exchange, Reply
from sluicegate.upstream import (
    Upstream,
    UpstreamRequest,
    forwardable_request_headers,
    relayable_response_headers,
)

# Bodies larger than this, or of unknown length, are relayed chunk by chunk instead of read whole.
_BUFFER_LIMIT = 1024 * 1024
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl")


class Forward:
    def __init__(self, upstream: Upstream, base_urls: Mapping[str, str], default_timeout: float) -> None:
        self._upstream = upstream
        self._base_urls = base_urls
        self._default_timeout = default_timeout

    async def __call__(self, exchange: Exchange) -> Reply:
        provider, gateway = exchange.provider, exchange.gateway
        assert provider is not None, "Resolve runs before Forward"
        assert gateway is not None, "Resolve runs before Forward"
        base_url = self._base_urls.get(provider.name, provider.default_base_url)
        timeout_ms = gateway.settings.request_timeout_ms
        timeout = timeout_ms / 1000 if timeout_ms else self._default_timeout
        request = UpstreamRequest(
            method=exchange.method,
            url=provider.upstream_url(base_url, exchange.route),
            headers=forwardable_request_headers(exchange.headers),
            body=exchange.body,
            timeout=timeout,
        )
        response = await self._upstream.send(request)
        headers = relayable_response_headers(response.headers)
        if _streams(response):
            exchange.streamed = True
            return Reply(response.status, headers, stream=Upstream.relay(response, timeout))
        exchange.first_byte_at = time.perf_counter()
        return Reply(response.status, headers, body=await Upstream.read(response, timeout))


def _streams(response: aiohttp.ClientResponse) -> bool:
    if response.content_type in _STREAM_TYPES:
        return True
    length = response.content_length
    return length is None or length > _BUFFER_LIMIT
