"""Writing back JSON a client sent: nesting too deep to write is the client's 400, not a 500.

orjson reads documents nested up to 1024 levels but writes at most 254, so a body can parse and
then fail where the gateway encodes it again (cache key, semantic scope, universal step, compat
translation). The depth is measured only when writing failed, so no request pays for it otherwise.
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.errors import BadRequest

MAX_DEPTH = 254  # the deepest nesting orjson writes


def encode(
    value: Any,
    option: int | None = None,
    *,
    source: Any = None,
    where: str = "the request body",
    **details: Any,
) -> bytes:
    """`orjson.dumps(value)`; raises `BadRequest` naming `where` when `value` is nested too deep.

    `source` is the client's document that `value` was made from: its depth is the one reported.
    """
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:
        depth = nesting(value)
        if depth <= MAX_DEPTH:
            raise
        sent = depth if source is None else nesting(source)
        raise too_deep(where, sent, MAX_DEPTH - (depth - sent), **details) from None


def refuse_if_too_deep(value: Any, margin: int, where: str = "the request body") -> None:
    """Raise `BadRequest` when `value` cannot be written once the gateway nests it `margin` levels deeper."""
    depth = nesting(value)
    if depth + margin > MAX_DEPTH:
        raise too_deep(where, depth, MAX_DEPTH - margin)


def too_deep(where: str, depth: int, allowed: int, **details: Any) -> BadRequest:
    return BadRequest(
        f"{where} nests JSON {depth} levels deep; at most {allowed} levels are accepted",
        depth=depth,
        max_depth=allowed,
        **details,
    )


def nesting(value: Any) -> int:
    """How many arrays and objects deep `value` goes (iteratively: it may be deeper than Python recurses)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
