"""A gateway's version as an HTTP entity tag, and the `If-Match` precondition on changing it.

Every answer about one gateway (the admin API's GET, POST and PATCH, Cloudflare's get, create and
update) carries its `ETag`, which changes with every change of its name or settings, and is also
in the body as `etag` (listings too). A change sent with `If-Match: <that ETag>` is made only if
the gateway is still at that version: two editors who read the same version cannot both save, the
second gets a 412 saying it changed meanwhile (nothing is saved) and the ETag it has now. Without
`If-Match` a change is made whatever the version, as before. `If-Match: *` asks only that the
gateway exist (RFC 9110 §13.1.1). The check and the write are one statement, so nothing slips in
between them, on every replica.

The tag holds the gateway's version and when it was created, so a gateway deleted and created
again under the same slug does not match a tag of the one before.
"""

from __future__ import annotations

import re

from sluicegate.errors import BadRequest, PreconditionFailed
from sluicegate.gateway import Gateway

IF_MATCH = "If-Match"
_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def etag(gateway: Gateway) -> str:
    """The gateway's entity tag, quoted as the `ETag` header carries it."""
    return f'"{gateway.version}-{round(gateway.created_at * 1000):x}"'


def expected_version(if_match: str | None, current: Gateway) -> int | None:
    """The version a change must find (`current`'s), or None without `If-Match`. A 412 when
    `If-Match` names only other tags, a 400 when it is not a list of entity tags."""
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return current.version
    tags = _tags(if_match)
    # Strong comparison (RFC 9110 §8.8.3.2): a weak tag matches none.
    if any(not weak and f'"{tag}"' == etag(current) for weak, tag in tags):
        return current.version
    raise changed_meanwhile(current, if_match)


def changed_meanwhile(current: Gateway, if_match: str) -> PreconditionFailed:
    """The 412 for a change whose `If-Match` names a version the gateway is no longer at."""
    now = etag(current)
    return PreconditionFailed(
        f"gateway {current.slug!r} changed since you read it (If-Match: {if_match.strip()}; its ETag is"
        f" now {now}), so nothing was saved: GET it again, make your change to what it holds now, and"
        f" send that with If-Match: {now}",
        headers={"ETag": now},
        etag=now,
    )


def _tags(if_match: str) -> list[tuple[bool, str]]:
    """The entity tags of an `If-Match` list, each (weak, opaque tag)."""
    tags: list[tuple[bool, str]] = []
    at = 0
    while at < len(if_match):
        found = _TAG.match(if_match, at)
        if found is None or found.end() == at:
            break
        tags.append((found.group(1) is not None, found.group(2)))
        at = found.end()
    if not tags or if_match[at:].strip():
        raise BadRequest(
            f"If-Match: {if_match!r} is not an entity tag: send the gateway's ETag as it came, quotes"
            ' and all (If-Match: "3-18f2a4c9b10"), or * for any version',
            param=IF_MATCH,
        )
    return tags
