"""A Responses reasoning item's `encrypted_content` as the compat endpoint writes it: the signed
thinking blocks of a Claude answer (chat's `thinking_blocks`), so that a Responses client that
sends the item back in `input` (Codex, the Agents SDK, any client that keeps no server state)
gives Claude its thinking back in a tool loop, which Anthropic requires of a request that thinks.

OpenAI fills the field when `include` asks for `reasoning.encrypted_content`; the gateway keeps no
responses (no `previous_response_id`), so the item is the only way back and the field is filled
always. It is not encrypted: the blocks' own text, which the summary already shows, as base64 of
their JSON, after a prefix that tells it from another provider's (an item of OpenAI's own is
dropped as before). Anthropic checks each block's signature, so an altered one is refused there,
not trusted here. Blocks are kept only when every thinking block is signed: a guardrail that
changed the thinking's text emptied its signature (providers/texts.py `Text.signed`), and then the
item goes without, and the tool loop's next turn without thinking (anthropic/compat_thinking.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

import orjson

from sluicegate.providers.anthropic.compat_thinking import signed_blocks

PREFIX: Final = "sluicegate.thinking.v1:"


def sealed(blocks: Any) -> str | None:
    """The `encrypted_content` for chat's `thinking_blocks`, or None when none may go back."""
    kept = signed_blocks({"thinking_blocks": blocks if isinstance(blocks, list) else []})
    if not kept:
        return None
    return PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def opened(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The thinking blocks an input reasoning item carries back (none when it holds no content of
    ours: OpenAI's own, or none at all)."""
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content.startswith(PREFIX):
        return []
    try:
        blocks = orjson.loads(base64.urlsafe_b64decode(content[len(PREFIX) :]))
    except (binascii.Error, ValueError):
        return []
    return signed_blocks({"thinking_blocks": blocks if isinstance(blocks, list) else []})


def thought_text(message: Mapping[str, Any]) -> str:
    """A chat message's (or delta's) thinking text: `reasoning_content` (DeepSeek's, vLLM's, the
    gateway's translations'), else `reasoning` (OpenRouter's, Groq's, newer vLLM's); "" for none."""
    for key in ("reasoning_content", "reasoning"):
        if isinstance(text := message.get(key), str) and text:
            return text
    return ""
