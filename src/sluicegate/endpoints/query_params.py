"""The one check of the query parameters a route takes (`check_params`), which every admin API
route that takes some makes (and the Cloudflare-style API's, through `cfapi.params.only`): ignored,
a misspelt filter (`modle=`, `gatway=`) would answer for every record, or purge every entry. And
how a provider filter's value is read (`provider_name`), on every surface that filters by one."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from sluicegate.errors import BadRequest
from sluicegate.hints import did_you_mean

# The spend report's names for a range's ends, sent to the routes that call them `from` and `to`.
FROM_TO = {"since": "from", "until": "to"}


def check_params(
    params: Iterable[str],
    known: Collection[str],
    *,
    meant: Mapping[str, str] | None = None,
    ignored: Collection[str] = (),
) -> None:
    """Refuse a parameter not in `known` (nor `ignored`) with a 400 naming it and the one probably
    meant: the one `meant` maps it to (another route's name for it), else the nearest known name
    (or the known ones, when none is near)."""
    for given in params:
        if given in known or given in ignored:
            continue
        hint = f"; did you mean {meant[given]!r}?" if meant and given in meant else did_you_mean(given, known)
        raise BadRequest(f"unknown parameter {given!r}{hint}", param=given)


def provider_name(value: str | None) -> str | None:
    """A provider filter's value as the records hold it: provider names are lower case (the
    registry's and `custom-{slug}`), and a filter names one in any case, as the universal and compat
    endpoints take `OpenAI` (a record of a request refused for its unknown provider keeps the name
    as sent, any case)."""
    return None if value is None else value.lower()
