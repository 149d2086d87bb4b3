"""`x-settings-overrides`: Fastly AI Accelerator's per-request settings, a JSON object.

Read where the gateway's own request headers are checked (`Resolve`), so a bad one is a 400 on
every request, not only on those that reach the stage that uses it (a cache hit returns first).
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.errors import BadRequest
from sluicegate.headertext import json_header_problem
from sluicegate.hints import did_you_mean

OVERRIDES_HEADER = "x-settings-overrides"
# Each setting a request may override, and the type its value must have.
KNOWN_OVERRIDES: dict[str, type] = {"semantic_cache_enabled": bool}


def parse_overrides(value: str) -> dict[str, Any]:
    """The header's settings; a 400 names a bad value or an unknown key and the closest known one
    (an unknown key silently ignored would leave the caller believing it took effect)."""
    try:
        overrides = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        problem = json_header_problem(OVERRIDES_HEADER, value)
        raise BadRequest(
            problem or f"{OVERRIDES_HEADER} is not valid JSON: {exc}", header=OVERRIDES_HEADER
        ) from exc
    if not isinstance(overrides, dict):
        raise BadRequest(f"{OVERRIDES_HEADER} must be a JSON object", header=OVERRIDES_HEADER)
    for key, item in overrides.items():
        kind = KNOWN_OVERRIDES.get(key)
        if kind is None:
            raise BadRequest(
                f"{OVERRIDES_HEADER}: unknown setting {key!r}{did_you_mean(key, KNOWN_OVERRIDES)}",
                header=OVERRIDES_HEADER,
                setting=key,
                known=sorted(KNOWN_OVERRIDES),
            )
        if not isinstance(item, kind):
            raise BadRequest(
                f"{OVERRIDES_HEADER}: {key} must be true or false", header=OVERRIDES_HEADER, setting=key
            )
    return overrides
