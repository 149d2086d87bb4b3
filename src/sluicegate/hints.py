"""What a person probably meant: the closest known name to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from sluicegate.errors import UnknownAccount, UnknownGateway
from sluicegate.gateway import DEFAULT_ACCOUNT

# A Cloudflare account id, as a URL copied from Cloudflare's docs or dashboard carries it.
_CLOUDFLARE_ACCOUNT = re.compile(r"[0-9a-fA-F]{32}")


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


def unknown_account(account: str, slug: str, default_has_it: bool) -> UnknownAccount:
    """The 404 for a URL naming an account with no gateways (a Cloudflare account id kept in a URL
    moved here, most often). Only the default account is named, and the path to its gateway `slug`
    when it has one (`default_has_it`): a client that is not yet authenticated learns nothing of
    the other accounts a deployment may hold."""
    cloudflare = _CLOUDFLARE_ACCOUNT.fullmatch(account) is not None
    near = not cloudflare and closest(account, [DEFAULT_ACCOUNT]) is not None
    if near:
        said = f"; did you mean {DEFAULT_ACCOUNT!r}?"
    elif cloudflare:
        said = f": Cloudflare's account id is not used here; the default account is {DEFAULT_ACCOUNT!r}"
    else:
        said = f" (the default account is {DEFAULT_ACCOUNT!r})"
    if not default_has_it:
        return UnknownAccount(f"no account {account!r}{said}")
    path = f"/v1/{DEFAULT_ACCOUNT}/{slug}"
    return UnknownAccount(f"no account {account!r}{said} (use {path}/...)", did_you_mean=path)


CUSTOM_PROVIDERS_DOC = "docs/providers.md#an-accounts-own-custom-providers"
# Cloudflare's provider slugs that are not built in here: the service, and the base URL of its
# OpenAI-compatible API (None: it speaks no such API, so no custom provider reaches it either).
_CLOUDFLARE_ONLY: dict[str, tuple[str, str | None]] = {
    "grok": ("xAI", "https://api.x.ai/v1"),
    "cerebras": ("Cerebras", "https://api.cerebras.ai/v1"),
    "aws-bedrock": ("Amazon Bedrock", None),
}


def unknown_provider(name: str, known: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """What an error for the unknown provider `name` adds to `unknown provider 'x'`, and its details:
    the known name it is a misspelling of, or how to reach it as an account's custom provider."""
    if name.lower() in _CLOUDFLARE_ONLY:  # never "did you mean 'groq'" for Cloudflare's `grok`
        name = name.lower()
        service, base_url = _CLOUDFLARE_ONLY[name]
        if base_url is None:
            return f": {service} is not built in here, and its API is not OpenAI's", {}
        custom = f"custom-{name}"
        return (
            f": {service} is not built in here; its API speaks OpenAI's, so add it as a custom provider"
            f" (base_url {base_url}) and use {custom!r} ({CUSTOM_PROVIDERS_DOC})",
            {"custom_provider": custom, "docs": CUSTOM_PROVIDERS_DOC},
        )
    guess = closest(name.lower(), known)
    if guess is not None:
        return f"; did you mean {guess!r}?", {"did_you_mean": guess}
    if name.startswith("custom-"):
        slug = name.removeprefix("custom-")
        return (
            f": the account has no custom provider with slug {slug!r} ({CUSTOM_PROVIDERS_DOC})",
            {"docs": CUSTOM_PROVIDERS_DOC},
        )
    custom = f"custom-{name.lower()}"
    return (
        f"; a provider that speaks OpenAI's API is reached as a custom provider: add it and use"
        f" {custom!r} ({CUSTOM_PROVIDERS_DOC})",
        {"custom_provider": custom, "docs": CUSTOM_PROVIDERS_DOC},
    )
