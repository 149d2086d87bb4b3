"""Images (and files) a tool returned, moved where chat can carry them.

Anthropic's `tool_result` and the Responses API's `function_call_output` may hold images (Claude
Code's Read tool on a screenshot returns one). Chat's tool messages hold text only, and OpenAI
wants a turn's tool messages right after the assistant message that made the calls. So, as other
gateways translate it, the tool message keeps the result's text (or a note naming what was
returned, when it has none), and the media go in one user message after that turn's last tool
message, each result's led by a line naming its call. To Gemini that user message joins the
functionResponse parts in one user turn (providers/gemini/compat_request.py merges turns of one
role), Gemini's own way to give a function's media.
"""

from __future__ import annotations

from typing import Any


def tool_text(texts: list[str], media: list[dict[str, Any]]) -> str:
    """The tool message's content: the result's text, else a note of the media it returned."""
    if texts or not media:
        return "\n".join(texts)
    return f"[the tool returned {_count(media)}: see the next user message]"


def shown_media(call_id: str, media: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user message parts a result's media become (none when it had none)."""
    if not media:
        return []
    return [{"type": "text", "text": f"The tool call {call_id} returned {_count(media)}:"}, *media]


def _count(media: list[dict[str, Any]]) -> str:
    images = sum(part.get("type") == "image_url" for part in media)
    files = len(media) - images
    named = [f"{n} {kind}{'s' if n > 1 else ''}" for n, kind in ((images, "image"), (files, "file")) if n]
    return " and ".join(named)
