"""Provider endpoints: `/v1/{account}/{gateway}/{provider}/{path}` forwarded to that provider."""

from __future__ import annotations

from aiohttp import web

from sluicegate.endpoints.relay import write_reply
from sluicegate.errors import PayloadTooLarge
from sluicegate.exchange import Exchange
from sluicegate.pipeline import Handler


class ProviderEndpoint:
    def __init__(self, pipeline: Handler, max_body_bytes: int) -> None:
        self._pipeline = pipeline
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # The raw (still percent-encoded) path, so the upstream gets the bytes the client sent.
        _, _, account, gateway, provider, tail = _split_path(request.raw_path)
        exchange = Exchange(
            account=account,
            gateway_slug=gateway,
            provider_name=provider,
            tail=tail,
            method=request.method,
            query=request.query_string,
            headers=request.headers,
            read_body=lambda: read_body(request, self._max_body_bytes),
        )
        reply = await self._pipeline(exchange)
        return await write_reply(request, reply)


def _split_path(raw_path: str) -> list[str]:
    parts = raw_path.partition("?")[0].split("/", 5)
    return parts + [""] * (6 - len(parts))


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body; aiohttp enforces `client_max_size`, this names the limit in our error."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", limit=limit) from exc
