"""What a person probably meant: the closest known name to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sluicegate.errors import UnknownGateway


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `word`, or None when none is near enough to suggest."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` when a known name is close, else `; known: a, b` (or nothing)."""
    names = sorted(known)
    guess = closest(word, names)
    if guess is not None:
        return f"; did you mean {guess!r}?"
    return f"; known: {', '.join(names)}" if names else ""


def no_gateway(account: str, slug: str, known: Iterable[str]) -> str:
    """`no gateway 'x' in account 'a'; did you mean 'y'?` (or the account's gateways)."""
    return f"no gateway {slug!r} in account {account!r}{did_you_mean(slug, known)}"


def unknown_gateway(account: str, slug: str, known: Iterable[str]) -> UnknownGateway:
    """The 404 for a gateway that does not exist, naming the account's gateways and the likeliest."""
    names = sorted(known)
    return UnknownGateway(no_gateway(account, slug, names), gateways=names)
