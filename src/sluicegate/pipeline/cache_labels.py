"""What an answer says of the caches, in the headers each gateway's clients read.

`cf-aig-cache-status` (Cloudflare's): `HIT` (served from the exact or the semantic cache), `MISS`
(a cache was read and held nothing that fits), `BYPASS` (a cache would have been read, but the
request asked not to be served from one: `cf-aig-skip-cache`, `cf-aig-cache-ttl: 0`,
`Cache-Control: no-cache` or `max-age=0`); no header where no cache applies at all. On the
universal endpoint the lookup is the first step's: a first step with no cache of its own has none
to bypass, so a later step whose answer is stored makes a MISS (`cache.cache_decision`).

`x-semantic-cache` (Fastly AI Accelerator's): its clients count hits by it, and Fastly has one
cache, so a request that speaks Fastly (`speaks_fastly`) hears `HIT` from the exact cache too, and
`MISS` on every other answer (`said_to_fastly`, by the Log stage): a bypass (as Fastly's `X-Cache`
says MISS for a pass), a refusal, and a request no cache applies to (the semantic cache off for it,
by the gateway or `x-settings-overrides`, or unable to serve it: temperature above 1, several
choices, tool results). Fastly's header has those two values only, on each of its answers. The
semantic cache also says it on every answer it gives to other clients (`pipeline/semantic.py`).
"""

from __future__ import annotations

from sluicegate.exchange import IncomingRequest, Reply
from sluicegate.types import CacheStatus

STATUS_HEADER = "cf-aig-cache-status"
SEMANTIC_STATUS_HEADER = "x-semantic-cache"
# Fastly AI Accelerator's request headers: the token header its client examples send, its
# per-request settings, its segment and its similarity threshold. Looked up by name in the
# case-insensitive headers, not by a scan of every header on each answer (the cache-hit path).
_FASTLY_HEADERS = ("fastly-key", "x-settings-overrides", "x-semantic-cache-key", "x-semantic-threshold")


def speaks_fastly(request: IncomingRequest) -> bool:
    """Whether the request comes from code written for Fastly AI Accelerator: its host-in-path form
    (`/api.openai.com/v1/…`), or one of its headers."""
    if request.upstream_host:
        return True
    headers = request.headers
    return any(name in headers for name in _FASTLY_HEADERS)


def labelled(reply: Reply, status: CacheStatus) -> Reply:
    """`reply` saying `status` in Cloudflare's header."""
    reply.headers[STATUS_HEADER] = status
    return reply


def said_to_fastly(reply: Reply, request: IncomingRequest, status: CacheStatus) -> None:
    """To a client that speaks Fastly, any answer says in Fastly's header whether it was served
    from a cache (`status`, the request's as logged): `HIT`, else `MISS`."""
    if speaks_fastly(request):
        reply.headers[SEMANTIC_STATUS_HEADER] = "HIT" if status is CacheStatus.HIT else "MISS"
