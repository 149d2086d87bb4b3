"""The text of a parsed request or answer body, read or rewritten in place with the provider's
`TextFormat` (providers/texts.py: which fields are text is the provider's to say). A JSON text (a
tool call's arguments, an answer asked to be JSON) is changed value by value and stays valid JSON
(json_values.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluicegate.providers.texts import Text, TextFormat

from .json_values import rewrite_json
from .runs import Run, RunChange, drop_emptied, runs

Change = Callable[[str, str], str]


def texts(text_format: TextFormat, body: Any) -> list[Text]:
    """Every text of a parsed request body, in order (none if it is not an object)."""
    return list(text_format.request_texts(body)) if isinstance(body, dict) else []


def answer_texts(text_format: TextFormat, body: Any) -> list[Text]:
    """Every text of a parsed JSON answer, in order (none if it is not an object)."""
    return list(text_format.answer_texts(body)) if isinstance(body, dict) else []


def rewrite(text_format: TextFormat, body: Any, change: Change, joined: RunChange | None = None) -> bool:
    """Applies `change(text, role)` to each text of a request `body`, in place (to each string and
    number of a JSON one); whether anything changed. With `joined`, the texts of adjacent text
    parts of one message go to it together, as the model reads them (runs.py)."""
    found = texts(text_format, body)
    grouped = runs(found, body) if joined is not None and len(found) > 1 else None
    if grouped is None:
        return rewrite_texts(found, change)
    assert joined is not None
    changed = False
    for run in grouped:
        changed = (_rewrite_run(run, joined) if run.parts else rewrite_texts(run.texts, change)) or changed
    return changed


def _rewrite_run(run: Run, joined: RunChange) -> bool:
    before = [text.value for text in run.texts]
    after = joined(before, run.texts[0].role)
    emptied = []
    for text, old, new in zip(run.texts, before, after, strict=True):
        if new != old:
            text.set(new)
            if not new:
                emptied.append(text)
    if emptied:
        drop_emptied(run, emptied)
    return after != before


def rewrite_answer(
    text_format: TextFormat, body: Any, change: Change, restore: Callable[[str], str] | None = None
) -> bool:
    """`rewrite` for an answer's texts. The client's own that it repeats (`Text.echo`) are not
    `change`d (no response rule is for them): `restore`, when given, puts placeholders back in them."""
    found = answer_texts(text_format, body)
    changed = rewrite_texts([text for text in found if not text.echo], change)
    if restore is not None:
        echoed = [text for text in found if text.echo]
        changed = rewrite_texts(echoed, lambda text, _role: restore(text)) or changed
    return changed


def rewrite_texts(found: list[Text], change: Change) -> bool:
    changed = False
    for text in found:
        before = text.value
        after = rewrite_json(before, _for(change, text.role)) if text.json else change(before, text.role)
        if after != before:
            text.set(after)
            changed = True
    return changed


def _for(change: Change, role: str) -> Callable[[str], str]:
    """`change` for the values of one JSON text, whose role they share."""
    return lambda value: change(value, role)
