"""A request's `Cache-Control`, read once, by one set of rules, for the exact and semantic caches.

The rules (RFC 9111 §1.2.2, §4.2.1, §5.2):
- several header lines are one comma-separated list; directive names are case-insensitive and
  whitespace around `=` is tolerated; a value may be quoted (`max-age="60"`);
- `max-age=N` sets the entry's TTL (capped at 30 days); the first valid one counts, and one that is
  not a whole number of seconds is ignored, as an unknown directive is;
- `no-cache`: do not serve a stored answer (the fresh one may be stored); `no-store`: do not store
  this answer (a stored one may be served); `max-age=0` means both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_TTL = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CacheControl:
    max_age: int | None = None  # seconds, at most MAX_TTL
    no_cache: bool = False
    no_store: bool = False

    @property
    def lookup(self) -> bool:
        """May a stored answer be served?"""
        return not self.no_cache and self.max_age != 0

    @property
    def store(self) -> bool:
        """May this answer be stored?"""
        return not self.no_store and self.max_age != 0


def parse_cache_control(values: Iterable[str]) -> CacheControl:
    """The directives of every `Cache-Control` line of a request (`headers.getall(..., [])`)."""
    max_age: int | None = None
    no_cache = no_store = False
    for value in values:
        for directive in value.split(","):
            name, _, argument = directive.partition("=")
            name = name.strip().lower()
            if name == "no-cache":
                no_cache = True
            elif name == "no-store":
                no_store = True
            elif name == "max-age" and max_age is None:
                seconds = argument.strip().removeprefix('"').removesuffix('"')
                if seconds.isascii() and seconds.isdigit():
                    max_age = min(int(seconds), MAX_TTL)
    return CacheControl(max_age, no_cache, no_store)
