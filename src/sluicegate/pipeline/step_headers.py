"""A universal step's `headers`: the values Cloudflare's types allow, and the gateway's own among them.

Values. Cloudflare's `AIGatewayHeaders` (`@cloudflare/workers-types`) types a step's headers as
`cf-aig-cache-ttl: number | string`, `cf-aig-skip-cache: boolean | string`, `cf-aig-metadata` and
`cf-aig-custom-cost` an object or its JSON text, any other `string | number | boolean | object`. A
number or a boolean is taken as its JSON text (`3600`, `true`), an object as its JSON text: what a
client would have written in a request's header. Anything else (an array, null) is a 400 naming
the header.

Gateway headers. A step's `cf-aig-*` header says for that step what the request's says for the
request; Cloudflare: "provider-level headers ... take precedence over all other configurations".

- Retry headers and cache asks (`cf-aig-cache-ttl`, `cf-aig-skip-cache`): for that step's tries and
  its answer's entry (retry_headers.py, cache_asks.py), kept in `Step.own_headers`.
- `cf-aig-metadata`, `cf-aig-custom-cost`, `cf-aig-collect-log`: for the log record when that step
  is the record's step (the one that answered, else the last one tried), in `Step.options`: its
  metadata entries over the request's, its prices for the cost shown, whether the record is kept.
  What is decided before any step answers (rate limits, budgets, route conditions) reads the
  request's own.
- `cf-aig-cache-key`: the exact cache keeps one entry per universal request, looked up before any
  step is tried, so no step has an entry of its own; a step's name is the request's when the
  request sends none. Different names in one request (two steps', a step's and the request's) are
  a 400: one of them could not be honoured.
- `cf-aig-event-id`: taken, as on the request; Sluicegate records no event ids.

Any other gateway header (`cf-aig-authorization`, `cf-aig-byok-alias`, ...) is the request's only:
in a step it would be ignored, so it is a 400 saying where it belongs (steps.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from multidict import MultiMapping

from sluicegate.errors import BadRequest
from sluicegate.exchange import StepOptions
from sluicegate.pipeline.cache_asks import KEY_HEADER, cache_key_named
from sluicegate.pipeline.header_values import flag
from sluicegate.usage.custom_cost import CUSTOM_COST_HEADER, parse_custom_cost
from sluicegate.usage.price_overrides import json_type

# The request's own headers as pipeline/resolve.py names them (it imports steps.py, which imports
# this module, so they are written out here; a test holds them equal).
METADATA_HEADER = "cf-aig-metadata"
COLLECT_LOG_HEADER = "cf-aig-collect-log"
EVENT_ID_HEADER = "cf-aig-event-id"
# Read from a step's headers besides the retry headers and cache asks (see the module's docstring).
STEP_REQUEST_HEADERS = (KEY_HEADER, METADATA_HEADER, CUSTOM_COST_HEADER, COLLECT_LOG_HEADER, EVENT_ID_HEADER)
_LOG_HEADERS = frozenset((METADATA_HEADER, CUSTOM_COST_HEADER, COLLECT_LOG_HEADER, EVENT_ID_HEADER))
_EXACT_FLOAT = 2**53  # a whole float below this is written as the integer it is (`3600.0` → `3600`)


def header_texts(index: int, headers: Any) -> Any:
    """Step `index`'s `headers` with each value as the text a header carries (see the module's
    docstring); anything but an object is returned as it is, for the schema to refuse."""
    if not isinstance(headers, dict):
        return headers
    return {name: _text(index, name, value) for name, value in headers.items()}


def _text(index: int, name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # (before int: a bool is one)
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < _EXACT_FLOAT else repr(value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    # The message names the header, never its value: it may be a key.
    raise BadRequest(
        f"step {index}: headers.{name}: a header's value is a string, a number, a boolean or an"
        f" object (sent as its JSON text), not {'an' if isinstance(value, list) else 'a'}"
        f" {json_type(value)}",
        step=index,
        field=f"headers.{name}",
        header=name,
    )


def is_log_header(name: str) -> bool:
    """Whether a step's header is read into `Step.options` (or, an event id, taken and not kept)
    rather than kept with the step's cache and retry headers."""
    return name.lower() in _LOG_HEADERS


def step_options(index: int, own: MultiMapping[str]) -> tuple[StepOptions | None, list[str]]:
    """What step `index`'s own log headers ask (None: none), and the warnings for what was taken
    otherwise than asked (metadata entries past the fifth); `BadRequest` naming the step for a
    value the request's header could not carry either."""
    from sluicegate.pipeline.resolve import MAX_METADATA_ENTRIES, parse_metadata  # (see above)

    metadata, custom_cost, collect_log, warnings = None, None, None, []
    try:
        if METADATA_HEADER in own:
            metadata, dropped = parse_metadata(own[METADATA_HEADER])
            if dropped:
                warnings.append(
                    f"step {index}: {METADATA_HEADER} has more than {MAX_METADATA_ENTRIES} entries; the"
                    f" first {MAX_METADATA_ENTRIES} are kept, not {json.dumps(list(dropped))}"
                )
        if CUSTOM_COST_HEADER in own:
            try:
                custom_cost = parse_custom_cost(own[CUSTOM_COST_HEADER])
            except ValueError as exc:  # the message names the header
                raise BadRequest(str(exc), header=CUSTOM_COST_HEADER) from exc
        if COLLECT_LOG_HEADER in own:
            collect_log = flag(COLLECT_LOG_HEADER, own[COLLECT_LOG_HEADER])
    except BadRequest as exc:
        raise BadRequest(f"step {index}: headers: {exc.message}", step=index, **exc.details) from exc
    if metadata is None and custom_cost is None and collect_log is None:
        return None, warnings
    return StepOptions(metadata, custom_cost, collect_log), warnings


def one_cache_key(request: MultiMapping[str], steps: Sequence[MultiMapping[str]]) -> None:
    """A 400 for a universal request whose steps' own headers (`steps`) name another
    `cf-aig-cache-key` than one another or than the request's: it has one entry (see the module's
    docstring)."""
    named = None if (sent := cache_key_named(request)) is None else (sent, "the request's")
    for index, own in enumerate(steps):
        name = cache_key_named(own)
        if name is None:
            continue
        if named is None:
            named = (name, f"step {index}'s")
        elif name != named[0]:
            raise BadRequest(
                f"step {index}: headers: {KEY_HEADER} names another cache entry than {named[1]}: a"
                " universal request has one entry, looked up before any step is tried, so one name"
                " would not be honoured. Name one entry: in the request's headers, or the same in"
                " each step's",
                step=index,
                field=f"headers.{KEY_HEADER}",
                header=KEY_HEADER,
            )
