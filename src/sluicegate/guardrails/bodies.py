"""The user-visible text of a parsed request or answer body, read or rewritten in place with the
provider's `TextFormat` (providers/texts.py: which fields are text is the provider's to say)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluicegate.providers.texts import Text, TextFormat


def texts(text_format: TextFormat, body: Any) -> list[Text]:
    """Every user-visible text of a parsed request body, in order (none if it is not an object)."""
    return list(text_format.request_texts(body)) if isinstance(body, dict) else []


def answer_texts(text_format: TextFormat, body: Any) -> list[Text]:
    """Every user-visible text of a parsed JSON answer, in order (none if it is not an object)."""
    return list(text_format.answer_texts(body)) if isinstance(body, dict) else []


def rewrite(text_format: TextFormat, body: Any, change: Callable[[str, str], str]) -> bool:
    """Applies `change(text, role)` to each user-visible text of `body`, in place; whether
    anything changed."""
    changed = False
    for text in texts(text_format, body):
        before = text.value
        after = change(before, text.role)
        if after != before:
            text.set(after)
            changed = True
    return changed
