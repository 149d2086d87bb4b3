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
# Other gateways' names (LiteLLM's, the SDKs', short ones) for providers built in here.
_BUILT_IN_ALIASES = {
    **dict.fromkeys(("gemini", "google", "googleai", "google-ai", "google-genai"), "google-ai-studio"),
    **dict.fromkeys(("vertex", "vertexai", "vertex-ai", "google-vertex", "gcp"), "google-vertex-ai"),
    **dict.fromkeys(("claude", "anthropic-ai"), "anthropic"),
    **dict.fromkeys(("azure", "azureopenai", "azure-oai"), "azure-openai"),
    **dict.fromkeys(("perplexity", "pplx"), "perplexity-ai"),
    **dict.fromkeys(("cloudflare", "workersai", "workers", "cf", "cloudflare-workers-ai"), "workers-ai"),
    **dict.fromkeys(("hf", "hugging-face", "huggingface-hub"), "huggingface"),
    **dict.fromkeys(("mistralai", "mistral-ai"), "mistral"),
    **dict.fromkeys(("cohere-chat", "cohere-ai"), "cohere"),
    **dict.fromkeys(("deepseek-ai",), "deepseek"),
    **dict.fromkeys(("open-router",), "openrouter"),
    **dict.fromkeys(("chatgpt", "gpt"), "openai"),
}  # fmt: skip
# Other names for the Cloudflare slugs below.
_CLOUDFLARE_ALIASES = {
    **dict.fromkeys(("xai", "x-ai"), "grok"),
    **dict.fromkeys(("bedrock", "amazon-bedrock", "aws", "amazon", "bedrock-converse"), "aws-bedrock"),
    **dict.fromkeys(("eleven-labs", "11labs"), "elevenlabs"),
    **dict.fromkeys(("fal-ai", "falai"), "fal"),
}  # fmt: skip
# Cloudflare's provider slugs that are not built in here but have an OpenAI-compatible API, which
# an account's custom provider reaches: the service, and the base URL of that API.
_OPENAI_COMPATIBLE = {
    "grok": ("xAI", "https://api.x.ai/v1"),
    "cerebras": ("Cerebras", "https://api.cerebras.ai/v1"),
    "baseten": ("Baseten", "https://inference.baseten.co/v1"),
    # Bedrock's OpenAI-compatible Chat Completions (a Bedrock API key as the bearer token), not the
    # native SigV4-signed API Cloudflare's aws-bedrock forwards; the region is the user's.
    "aws-bedrock": ("Amazon Bedrock", "https://bedrock-mantle.{region}.api.aws/v1"),
}
# Cloudflare's provider slugs whose APIs are not OpenAI's (speech, images): not reachable here.
_NOT_OPENAI = {
    "cartesia": "Cartesia",
    "elevenlabs": "ElevenLabs",
    "deepgram": "Deepgram",
    "fal": "Fal AI",
    "ideogram": "Ideogram",
    "adobe-firefly": "Adobe Firefly",
}


def unknown_provider(name: str, known: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """What an error for the unknown provider `name` adds to `unknown provider 'x'`, and its details:
    the provider built in under another name, the account's custom provider of that name, or how
    (and whether) an account's custom provider reaches it. `known` holds the built-in names and the
    account's own `custom-{slug}` ones."""
    names = set(known)
    word = name.strip().lower().replace("_", "-")
    if word in _BUILT_IN_ALIASES and _BUILT_IN_ALIASES[word] in names:
        meant = _BUILT_IN_ALIASES[word]
        return f"; did you mean {meant!r}?", {"did_you_mean": meant}
    word = _CLOUDFLARE_ALIASES.get(word, word)
    custom = f"custom-{word}"
    if custom in names:  # the account already has it (Cloudflare's `grok` as its `custom-grok`)
        return f"; did you mean {custom!r}, the account's custom provider?", {"did_you_mean": custom}
    if word in _NOT_OPENAI:
        return (
            f": {_NOT_OPENAI[word]} is not supported here: its API is not OpenAI's, so no custom"
            " provider reaches it either",
            {},
        )
    if word in _OPENAI_COMPATIBLE:  # never "did you mean 'groq'" for Cloudflare's `grok`
        service, base_url = _OPENAI_COMPATIBLE[word]
        speaks = "its API speaks OpenAI's, so add it"
        if word == "aws-bedrock":
            speaks = (
                "it also serves OpenAI's Chat Completions API (a Bedrock API key as the bearer"
                " token, for the models Bedrock serves there), so add that"
            )
        return (
            f": {service} is not built in here; {speaks} as a custom provider"
            f" (base_url {base_url}) and use {custom!r} ({CUSTOM_PROVIDERS_DOC})",
            {"custom_provider": custom, "docs": CUSTOM_PROVIDERS_DOC},
        )
    guess = closest(word, names)
    if guess is not None:
        return f"; did you mean {guess!r}?", {"did_you_mean": guess}
    if word.startswith("custom-"):
        slug = word.removeprefix("custom-")
        return (
            f": the account has no custom provider with slug {slug!r} ({CUSTOM_PROVIDERS_DOC})",
            {"docs": CUSTOM_PROVIDERS_DOC},
        )
    return (
        f"; a provider that speaks OpenAI's API is reached as a custom provider: add it and use"
        f" {custom!r} ({CUSTOM_PROVIDERS_DOC})",
        {"custom_provider": custom, "docs": CUSTOM_PROVIDERS_DOC},
    )
