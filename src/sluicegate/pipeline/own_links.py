"""The gateway's own URLs in an answer in place of the provider's (`RequestFacts.links`: Anthropic's
batch `results_url`), so a client that follows one reads it through the gateway, on the endpoint it
used: `{origin}/v1/{account}/{gateway}/{provider}/…` on a provider endpoint (and for a universal
step, its provider's endpoint of the same gateway), `{origin}/{host}/…` in host-in-path form. The
origin is the one the client reached (own_origin.py).

Set by Plan on the steps whose facts ask for it, as the step's `answer`, so the requests of every
other route pay one attribute test. A whole 2xx JSON answer is rewritten (a batch or a page of
them); a stream, an error, or one read past the gateway's whole-answer limit goes as it came.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from sluicegate.exchange import IncomingRequest, Reply, Step
from sluicegate.own_origin import gateway_origin
from sluicegate.providers.answer_links import AnswerLinks


def link_answers(step: Step, request: IncomingRequest) -> None:
    """Gives `step` (its base URL decided) an `answer` that rewrites its links, where it has some
    and the gateway can name its own URL for them."""
    links = step.facts.links
    if links is None or step.answer is not None or step.base_url is None:
        return
    endpoint = _own_endpoint(step, request)
    origin = gateway_origin(request.headers)
    if endpoint is not None and origin is not None:
        step.answer = partial(_linked, links, step.base_url, origin + endpoint)


def _own_endpoint(step: Step, request: IncomingRequest) -> str | None:
    """The path at which the gateway reaches what `step.base_url` is upstream, or None where the
    step's path is not the client's (a host-in-path route that maps it) or the endpoint has none."""
    kind = request.kind
    if kind == "universal":
        account, gateway = quote(request.account, safe=""), quote(request.gateway_slug, safe="")
        return f"/v1/{account}/{gateway}/{step.provider.name}"
    if step.route.path != request.route.path:
        return None
    if kind == "provider":  # (the URL's own segments, as sent)
        return f"/v1/{request.account}/{request.gateway_slug}/{request.provider_name}"
    if kind in ("host", "host-compat"):
        return f"{'/compat/openai' if kind == 'host-compat' else ''}/{request.upstream_host}"
    return None


def _linked(links: AnswerLinks, upstream: str, own: str, reply: Reply) -> Reply:
    if reply.stream is None and 200 <= reply.status < 300:
        body = links.rewritten(reply.body, upstream, own)
        if body is not None:
            reply.body = body
    return reply
