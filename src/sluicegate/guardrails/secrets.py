"""Credentials: provider API keys, cloud access keys, private keys (PEM) and JWTs.

Keys are found by their documented prefix and then checked whole (length, alphabet), so a word
that merely starts like one passes, and so does a kebab-case name that starts with `sk-`. A JWT
counts only if its header decodes to a JSON object naming an `alg`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

import orjson

from .detector import ALNUM, NO_NUMBER, Detector, compile_re2, is_in

TOKEN = ALNUM + b"_-"

# Whole-token shapes, checked after the prefix found a candidate (stdlib `re` on a short token).
KEY_SHAPES: dict[str, str] = {
    # https://platform.openai.com/docs/api-reference/authentication (sk-, sk-proj-, sk-svcacct-)
    "openai": r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,200}",
    # https://docs.anthropic.com/en/api/overview (sk-ant-api03-…, sk-ant-admin01-…)
    "anthropic": r"sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_-]{32,200}",
    # https://cloud.google.com/docs/authentication/api-keys (AIza + 35)
    "google": r"AIza[A-Za-z0-9_-]{35}",
    # https://huggingface.co/docs/hub/security-tokens
    "huggingface": r"hf_[A-Za-z0-9]{30,40}",
    # https://github.blog/changelog/2021-03-31-authentication-token-format-updates-are-generally-available/
    "github": r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}",
    # https://api.slack.com/authentication/token-types
    "slack": r"xox[abposr]-[A-Za-z0-9-]{10,100}",
    # https://docs.stripe.com/keys (secret and restricted keys; publishable pk_ keys are public)
    "stripe": r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,200}",
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
    "aws_access_key": r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
}
KEY_PREFIXES = {
    "openai": r"sk-",
    "anthropic": r"sk-ant-",
    "google": r"AIza",
    "huggingface": r"hf_",
    "github": r"gh[pousr]_|github_pat_",
    "slack": r"xox[abposr]-",
    "stripe": r"[rs]k_(?:live|test)_",
    "aws_access_key": r"AKIA|ASIA|ABIA|ACCA",
}


# A part of a kebab- or snake-case name: a word, maybe capitalised, maybe numbered (`button`, `v2`).
WORD = re.compile(rb"(?:[A-Z]?[a-z]*|[A-Z]*)[0-9]*")
# Keys whose prefix a name can start with too (`sk-button-primary…`, an npm package `sk-…`).
NAME_LIKE = {"openai"}


def _named(token: bytes) -> bool:
    """Every part of `token` is a word: a name, where a key's random body has long parts that mix
    cases and digits (`sk-` + 48 of them, or `sk-proj-` + about 160 with a few `-` and `_`)."""
    return all(WORD.fullmatch(part) for part in re.split(rb"[-_]", token))


def _key(shape: str, name_like: bool = False) -> Callable[[bytes, int, int], int | None]:
    whole = re.compile(shape.encode())

    def accept(data: bytes, start: int, end: int) -> int | None:
        if is_in(data, start - 1, TOKEN) or is_in(data, end, TOKEN):
            return None
        if name_like and _named(data[start:end]):
            return None
        return end if whole.fullmatch(data, start, end) else None

    return accept


def _jwt(data: bytes, start: int, end: int) -> int | None:
    if is_in(data, start - 1, TOKEN + b"."):
        return None
    token = data[start:end].rstrip(b".")
    parts = token.split(b".")
    if len(parts) != 3 or not all(parts):
        return None
    header = parts[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return None
    if not isinstance(decoded, dict) or "alg" not in decoded:
        return None
    return start + len(token)


PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----"
PEM = (
    r"-----BEGIN "
    + PEM_LABEL
    # Whole body lines (base64, or the Proc-Type/DEK-Info headers of legacy encrypted keys), so
    # prose after a key without its END line is not taken in; a key pasted on one line keeps
    # its base64 runs apart by spaces.
    + r"(?:\r?\n(?:(?:[A-Za-z0-9+/=]+|Proc-Type: [0-9A-Z,]+|DEK-Info: [A-Z0-9-]+,[0-9A-Fa-f]+)\r?(?m:$))?"
    + r"| [A-Za-z0-9+/=]{16,})*"
    + r"(?:\r?\n| )?(?:-----END "
    + PEM_LABEL
    + r")?"
)
PEM_LEAD = b"-----BEGIN "
PEM_MAX = 16384
# The longest END line, with its line break: a block within this of the end may be unfinished.
PEM_TAIL = 48


class PrivateKeyDetector(Detector):
    """A PEM private key block, through its END line when there is one.

    A block can be long, so it is not held back by length: only from a BEGIN line whose block
    may still be growing (or a BEGIN line still arriving)."""

    def __init__(self) -> None:
        super().__init__("secret.private_key", "secret", PEM, max_len=PEM_MAX, shortest_number=NO_NUMBER)
        self._block = compile_re2(PEM)

    def open_from(self, data: bytes) -> int:
        partial = len(PEM_LEAD) - 1
        for size in range(min(partial, len(data)), 0, -1):
            if PEM_LEAD.startswith(data[-size:]):
                fallback = len(data) - size
                break
        else:
            fallback = len(data)
        position = data.find(PEM_LEAD, max(0, len(data) - PEM_MAX))
        while position != -1:
            match = self._block.match(data, position)
            if match is None:
                # A BEGIN line still arriving (no line break yet) may become a private key's.
                if b"\n" not in data[position:] and len(data) - position < 64:
                    return position
            elif match.end() >= len(data) - PEM_TAIL:
                return position
            position = data.find(PEM_LEAD, position + 1)
        return fallback


def secret_detectors() -> list[Detector]:
    detectors: list[Detector] = [
        Detector(
            f"secret.{name}",
            "secret",
            f"(?:{KEY_PREFIXES[name]})[A-Za-z0-9_-]*",
            max_len=256,
            accept=_key(shape, name in NAME_LIKE),
            alphabet=TOKEN,
            shortest_number=NO_NUMBER,  # every prefix has a letter other than e
        )
        for name, shape in KEY_SHAPES.items()
    ]
    detectors.append(
        Detector(
            "secret.jwt",
            "secret",
            r"eyJ[A-Za-z0-9_.-]+",
            max_len=8192,
            accept=_jwt,
            alphabet=TOKEN + b".",
            shortest_number=NO_NUMBER,
        )
    )
    detectors.append(PrivateKeyDetector())
    return detectors
