"""URLs of a provider's own that an answer hands the client to read next, such as an Anthropic
Message Batch's `results_url` (https://docs.anthropic.com/en/api/retrieving-message-batches):
absolute, at the provider's host, so a client that follows one goes around the gateway (unlogged,
and without the key a gateway stores, or where only the gateway is reachable).

An adapter names the fields in the request's facts (`RequestFacts.links`); the pipeline gives the
answer the gateway's URL of the same resource instead (pipeline/own_links.py). Pure: the rewrite
maps a URL under the base URL the request went to onto the endpoint the client used, the path
after it and the query kept; a URL elsewhere (another host) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True, slots=True)
class AnswerLinks:
    """The fields of a JSON answer that hold such URLs: in the object itself, or in each object of
    a list page's `data` (a list of batches)."""

    fields: tuple[str, ...]

    def rewritten(self, body: bytes, upstream: str, own: str) -> bytes | None:
        """`body` with each URL under `upstream` (the base URL the request went to) moved under
        `own` (the gateway's URL of the same endpoint); None when none is (the body unchanged)."""
        if not any(field.encode() in body for field in self.fields):
            return None  # (an error, a deletion: nothing to parse)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None
        page = document.get("data")
        objects = [document, *(page if isinstance(page, list) else ())]
        changed = False
        for item in objects:
            if not isinstance(item, dict):
                continue
            for field in self.fields:
                moved = moved_url(item.get(field), upstream, own)
                if moved is not None:
                    item[field], changed = moved, True
        return orjson.dumps(document) if changed else None


def moved_url(url: Any, upstream: str, own: str) -> str | None:
    """`url` under `own` in place of `upstream` (`https://api.anthropic.com/v1/x?y` under
    `https://api.anthropic.com` is `{own}/v1/x?y`); None when `url` is not under `upstream`."""
    if not isinstance(url, str):
        return None
    found, base = urlsplit(url), urlsplit(upstream)
    if (found.scheme.lower(), found.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    path = base.path.rstrip("/")
    if not found.path.startswith(path + "/"):
        return None
    query = f"?{found.query}" if found.query else ""
    return f"{own.rstrip('/')}{found.path[len(path) :]}{query}"
