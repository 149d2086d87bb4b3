"""A request no route of an API takes: the gateway's 404 or 405 for it, not aiohttp's.

aiohttp answers a path no route matches `Not Found` and a method the path's route does not take
`Method Not Allowed`, with no word of what would have been served. The admin API and the
Cloudflare-style API answer these as their other errors (`json_errors`, `cfapi/envelope.py`): a
405 names the methods the path takes (and its `Allow` says them, RFC 9110 §15.5.6); a 404 names the
path one fix away that a route serves, when there is one (`near_route`): a trailing or doubled
slash, a word in the singular (`gateway`) or with `_` for `-`, a misspelt one, or the
`accounts/{account}` the admin routes begin with left out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from sluicegate.gateway import DEFAULT_ACCOUNT


@dataclass(frozen=True, slots=True)
class Near:
    """A path a route serves, and the methods that route takes."""

    path: str
    methods: tuple[str, ...]


# Longer paths get the plain 404: the search compares each segment with every route's words, on
# the event loop, before any token is checked (the API's longest route has 10 segments).
MAX_NEAR_PATH = 300
MAX_NEAR_SEGMENTS = 14


def routing_miss(request: web.Request) -> web.HTTPException | None:
    """aiohttp's exception for a request no route took (404, 405), or None: the request was routed
    (an `HTTPException` a handler raised is its own)."""
    return request.match_info.http_exception


def allowed_methods(error: web.HTTPException) -> tuple[str, ...]:
    """The methods a 405 says the path takes, sorted."""
    return tuple(sorted(getattr(error, "allowed_methods", ()) or ()))


def near_route(app: web.Application, path: str, method: str, prefix: str) -> Near | None:
    """The path one fix away from `path` (under `prefix`, the API's mount point) that a route of
    `app` serves; one whose route takes `method` first. None when no fix finds one."""
    if len(path) > MAX_NEAR_PATH or path.count("/") > MAX_NEAR_SEGMENTS:
        return None  # no route is that long: nothing to mend, and every segment would be compared
    resources = [(resource, _methods(resource)) for resource in app.router.resources()]
    literals = {part for resource, _ in resources for part in resource.canonical.split("/")}
    literals = {part for part in literals if part[:1] != "{"}
    fallback: Near | None = None
    for candidate in _candidates(path, prefix, literals):
        if candidate == path:
            continue
        for resource, methods in resources:
            if not _serves(resource, candidate):
                continue
            if method in methods or "*" in methods:
                return Near(candidate, methods)
            fallback = fallback or Near(candidate, methods)
    return fallback


def _candidates(path: str, prefix: str, literals: set[str]) -> Iterator[str]:
    """Paths one fix from `path`: its slashes mended (a trailing one, two in a row), then, on that,
    `accounts/{account}` put in front, then a word near one the routes use in place of one."""
    if not path.startswith(prefix + "/"):
        return
    segments = [part for part in path[len(prefix) :].split("/") if part]
    bases = [segments]
    if segments[:1] != ["accounts"]:
        # `/gateways` (no account): the default one; `/local/gateways` (no `accounts`).
        bases += [["accounts", DEFAULT_ACCOUNT, *segments], ["accounts", *segments]]
    for base in bases:
        yield "/".join([prefix, *base])
    for base in bases:
        for at, part in enumerate(base):
            for word in _near_words(part, literals):
                yield "/".join([prefix, *base[:at], word, *base[at + 1 :]])


def _near_words(part: str, literals: set[str]) -> list[str]:
    """Words the routes use that `part` may have been meant as (none when it is one of them)."""
    if part in literals:
        return []
    lower = part.lower()
    variants = [lower, lower + "s", lower.removesuffix("s"), lower.replace("_", "-"), lower.replace("-", "_")]
    variants += difflib.get_close_matches(lower, sorted(literals), n=2, cutoff=0.75)
    return [word for word in dict.fromkeys(variants) if word in literals and word != part]


def _methods(resource: web.AbstractResource) -> tuple[str, ...]:
    return tuple(sorted({route.method for route in resource}))


def _serves(resource: web.AbstractResource, path: str) -> bool:
    info = resource.get_info()
    if "pattern" in info:
        return info["pattern"].fullmatch(path) is not None
    return info.get("path") == path
