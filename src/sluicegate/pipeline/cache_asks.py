"""What a request's headers ask of the exact cache, and a universal step's own headers over them.

Cloudflare's "provider-level headers" (a universal step's `headers`) "take precedence over all other
configurations": a step's `cf-aig-cache-ttl` or `cf-aig-skip-cache` decides how that step's answer
is cached, over the request's headers and `Cache-Control`. `caching` turns the asks into what the
exact cache does (`pipeline/cache.py`).

Cloudflare: "The minimum TTL is 60 seconds and the maximum TTL is one month"
(https://developers.cloudflare.com/ai-gateway/features/caching/#cache-ttl-cf-aig-cache-ttl). Its
docs do not say what a TTL outside that range does, and document no refusal: so a request with one
is served rather than refused, its TTL taken into the range, and its answer says so in
`x-sluicegate-warning` (pipeline/resolve.py). A value that is no number of seconds is still a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from multidict import MultiMapping

from sluicegate.exchange import Step
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.cache_control import MAX_TTL, CacheControl
from sluicegate.pipeline.header_values import flag, whole_number

TTL_HEADER = "cf-aig-cache-ttl"
SKIP_HEADER = "cf-aig-skip-cache"
KEY_HEADER = "cf-aig-cache-key"
# Cloudflare's former names, which "will still function": read when the new one is absent.
OLD_TTL_HEADER = "cf-cache-ttl"
OLD_SKIP_HEADER = "cf-skip-cache"
ASK_HEADERS = (TTL_HEADER, SKIP_HEADER, OLD_TTL_HEADER, OLD_SKIP_HEADER)  # what `read_cache_ask` reads
MIN_TTL = 60
KEYED_TTL = 300  # a `cf-aig-cache-key` entry's lifetime where the gateway's cache is off


@dataclass(frozen=True, slots=True)
class CacheAsk:
    """The cache headers of a request or a step; None where they say nothing."""

    ttl: int | None = None  # 0: cache nothing
    skip: bool | None = None
    clamped: str | None = None  # the TTL sent was outside MIN_TTL-MAX_TTL: what the warning says

    @property
    def declines(self) -> bool:
        """Whether these asks keep the request out of the caches: neither read nor store."""
        return bool(self.skip) or self.ttl == 0

    def over(self, base: CacheAsk) -> CacheAsk:
        """These asks, and `base`'s where these say nothing."""
        return CacheAsk(
            base.ttl if self.ttl is None else self.ttl, base.skip if self.skip is None else self.skip
        )


@dataclass(frozen=True, slots=True)
class Caching:
    """What the exact cache does for one step's request: look up, store for `ttl` seconds."""

    ttl: int
    lookup: bool
    store: bool


NOT_CACHED = Caching(0, lookup=False, store=False)


# Every request header the exact cache reads: a request with none of them, on a gateway that does
# not cache, is passed by without reading further (the common case: no cache at all).
CACHE_HEADERS = (TTL_HEADER, SKIP_HEADER, KEY_HEADER, OLD_TTL_HEADER, OLD_SKIP_HEADER, "cache-control")


def cache_key_named(headers: MultiMapping[str]) -> str | None:
    """The entry `cf-aig-cache-key` names; None without one. A blank name is none, as a blank yes/no
    header is absent: it is what a template with an unset variable sends, and taken as a name it
    would give every request that sends it one shared entry, whatever it asks."""
    name = headers.get(KEY_HEADER)
    return name if name is not None and name.strip() else None


def read_cache_ask(headers: MultiMapping[str]) -> CacheAsk:
    """The cache headers among `headers`; `BadRequest` for a value that cannot be taken."""
    ttl = _either(headers, TTL_HEADER, OLD_TTL_HEADER)
    skip = _either(headers, SKIP_HEADER, OLD_SKIP_HEADER)
    seconds, clamped = (None, None) if ttl is None else parse_ttl(*ttl)
    return CacheAsk(ttl=seconds, skip=None if skip is None else flag(*skip), clamped=clamped)


def first_step_ask(headers: MultiMapping[str], steps: Sequence[Step]) -> CacheAsk:
    """The asks the lookup follows: the request's, under the first step's own (a hit answers in
    its place). `BadRequest` for a value that cannot be taken."""
    asked = read_cache_ask(headers)
    return read_cache_ask(steps[0].own_headers).over(asked) if steps and steps[0].own_headers else asked


def caching(ask: CacheAsk, control: CacheControl, settings: GatewaySettings, keyed: bool) -> Caching | None:
    """What the cache does for a request asking `ask` with `control` (its `Cache-Control`) and, when
    `keyed`, a `cf-aig-cache-key`; None when caching does not apply to it."""
    # A cache applies where the gateway caches, or the request turns one on: a name, or a TTL above
    # 0 (its own or `max-age`). A TTL of 0 turns none on: where none applies, the answer says
    # nothing of caches, with a skip or without (a BYPASS is an answer that a cache was kept from).
    if not (settings.cache_enabled or keyed or ask.ttl or control.max_age):
        return None
    # A TTL of 0 (Cloudflare's universal example sets it on a fallback step) caches nothing.
    if ask.declines:
        return NOT_CACHED
    if control.max_age is not None:
        ttl = control.max_age
    elif ask.ttl is not None:
        ttl = ask.ttl
    else:  # Cloudflare: a named entry on a gateway that does not cache "will be cached for 5 minutes"
        ttl = settings.cache_ttl if settings.cache_enabled else KEYED_TTL
    return Caching(ttl, control.lookup, control.store)


def step_caching(
    own: CacheAsk, asked: CacheAsk, control: CacheControl, settings: GatewaySettings, keyed: bool
) -> Caching | None:
    """`caching` for a universal step whose own headers ask `own` over the request's `asked`: its own
    TTL also outranks the request's `Cache-Control: max-age`."""
    if own.ttl is not None:
        control = replace(control, max_age=None)
    return caching(own.over(asked), control, settings, keyed)


def parse_ttl(name: str, value: str) -> tuple[int, str | None]:
    """`value` of header `name` (`cf-aig-cache-ttl` or its old spelling) as a TTL in seconds: 0 (do
    not cache) or within MIN_TTL-MAX_TTL, where one outside is taken (see the module's docstring);
    with the warning saying so then. `BadRequest` for a value that is no whole number."""
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text.lstrip("0")) > len(str(MAX_TTL)):
        ttl = MAX_TTL + 1  # above it, however long (int() refuses more than 4300 digits)
    else:
        ttl = whole_number(name, value, "seconds")
    if ttl == 0 or MIN_TTL <= ttl <= MAX_TTL:
        return ttl, None
    if ttl < MIN_TTL:
        return MIN_TTL, f"{name} is below the minimum of {MIN_TTL} seconds; {MIN_TTL} is used"
    return MAX_TTL, f"{name} is above the maximum of {MAX_TTL} seconds (30 days); {MAX_TTL} is used"


def _either(headers: MultiMapping[str], name: str, old_name: str) -> tuple[str, str] | None:
    """`name` and its value, or the deprecated spelling `old_name` and its value when `name` is absent."""
    for present in (name, old_name):
        if (value := headers.get(present)) is not None:
            return present, value
    return None
