"""What a provider's refusal says of the key it refused: invalid, short of a permission, or neither.

A 401 or 403 is not always about the key. Providers answer a valid key 401 on an endpoint it may not
use: OpenAI's restricted keys ("You have insufficient permissions for this operation. Missing
scopes: …"), a project key on the organization's admin endpoints (`organization/costs`: "Missing
scopes: api.usage.read"), Anthropic's `permission_error`, Google's `PERMISSION_DENIED`. Only some
bodies say the key itself is bad, and the key pool disables a key on those alone
(pipeline/key_verdicts.py):

- OpenAI, Groq, xAI: `code: invalid_api_key`, "Incorrect API key provided", "Invalid API Key";
  `account_deactivated`;
- Anthropic, DeepSeek: `type: authentication_error` ("invalid x-api-key", "Authentication Fails,
  Your api key … is invalid");
- Google AI Studio: a 400 whose `error.details` hold the reason `API_KEY_INVALID` ("API key not
  valid", "API key expired");
- Cohere: "invalid api token"; Hugging Face: "Invalid credentials in Authorization header".

Bodies that do not say (Azure's "invalid subscription key or wrong API endpoint", whose resource is
the client's to name; Mistral's "Unauthorized"; Cloudflare's "Authentication error", which it also
answers a token short of a permission; an HTML page) are `UNSAID`. Providers are told apart by
nothing but their bodies' shapes: an account's custom provider speaking OpenAI's API is read as
OpenAI is, and so is an answer translated on its way (the compat endpoint).
"""

from __future__ import annotations

import enum
from typing import Any

import orjson

_MOST = 64 * 1024  # an error body is small: a larger answer is not read for this
# Codes, types and reasons (lower case, without `_`/`-`) that name the key as invalid.
_INVALID_CODES = frozenset({"invalidapikey", "accountdeactivated", "authenticationerror", "apikeyinvalid"})
# How messages (lower case) that say so where no code does begin. Only a message's start is read:
# an error message may quote the client's own input further on (OpenAI's "Invalid value:
# 'invalid api key'", Mistral's "Invalid model: …"), and a client must not be able to write one.
_INVALID_WORDS = (
    "incorrect api key provided",
    "invalid api key",
    "invalid x-api-key",
    "invalid api token",
    "api key not valid",
    "api key expired",
    "api key not found",
    "invalid credentials in authorization header",
)
_DENIED_CODES = frozenset({"permissionerror", "permissiondenied", "insufficientpermissions"})
# "insufficient permissions", Hugging Face's "does not have sufficient permissions", "does not have
# permission", "Missing scopes: …".
_DENIED_WORDS = ("sufficient permission", "not have permission", "missing scope", "permission denied")


class KeySaid(enum.Enum):
    INVALID = "invalid"  # the key itself: wrong, revoked, expired, its account deactivated
    DENIED = "denied"  # a valid key short of a permission or scope for this request
    UNSAID = "unsaid"  # the body says neither (or is none the gateway reads)


def key_said(body: bytes, *, by_message: bool = True) -> KeySaid:
    """What an error `body` (a JSON document, or an SSE stream's error event) says of the key; with
    `by_message` False, only its codes are read (a 400's message is about the request, and often
    quotes it)."""
    if not body or len(body) > _MOST:
        return KeySaid.UNSAID
    codes, words = _said(_document(body))
    messages = [word.strip().lower() for word in words] if by_message else []
    if codes & _INVALID_CODES or any(message.startswith(_INVALID_WORDS) for message in messages):
        return KeySaid.INVALID
    text = " ".join(messages)
    if codes & _DENIED_CODES or any(phrase in text for phrase in _DENIED_WORDS):
        return KeySaid.DENIED
    return KeySaid.UNSAID


def _document(body: bytes) -> Any:
    """The JSON of `body`, or of the first `data:` line of an SSE event that holds JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    for line in body.splitlines():
        if line.startswith(b"data:"):
            try:
                return orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue
    return None


def _said(document: Any) -> tuple[set[str], list[str]]:
    """The codes (normalised) and messages of an error document, wherever the providers put them:
    `error` (an object or a string), Google's `error.status` and `error.details[].reason`,
    Anthropic's `error.type`, a top-level `message`/`detail`/`title` (Cohere, Mistral, Replicate),
    Cloudflare's `errors[]`; a list (Google's unstreamed stream) by its first item."""
    if isinstance(document, list) and document:
        document = document[0]
    if not isinstance(document, dict):
        return set(), []
    parts: list[Any] = [document]
    error = document.get("error")
    if isinstance(error, dict):
        parts.append(error)
        details = error.get("details")
        if isinstance(details, list):
            parts.extend(detail for detail in details[:10] if isinstance(detail, dict))
    errors = document.get("errors")
    if isinstance(errors, list):
        parts.extend(item for item in errors[:10] if isinstance(item, dict))
    codes: set[str] = set()
    words: list[str] = [error] if isinstance(error, str) else []
    for part in parts:
        for name in ("code", "type", "status", "reason"):
            if isinstance(value := part.get(name), str):
                codes.add(value.lower().replace("_", "").replace("-", ""))
        for name in ("message", "detail", "title"):
            if isinstance(value := part.get(name), str):
                words.append(value)
    return codes, words
