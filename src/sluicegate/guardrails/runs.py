"""The text parts of one message read as the one text the model reads.

A provider puts the adjacent text parts of one content list (an OpenAI chat message's or a
Responses item's `content`, an Anthropic turn's blocks, a Gemini turn's `parts`) together before
the model reads them, so a value split across parts (`jane.doe@exa` + `mple.com`) is whole to the
model and must be whole to the detectors. How they are put together is not documented by OpenAI,
Anthropic or Google, and open servers differ (vLLM joins with a line break, mlx-vlm with a space,
Google's SDKs and most clients with nothing), so a run is read twice, `JOINS`, one after the
other: with nothing between the parts, where a value split inside a word is whole, then with a
space, where words split at a part's edge (`Ignore all previous` + `instructions`) are apart. A
space stands for the line break too: the rules read a line break as a harder edge than a space (a
sentence ends there for the injection rules), never as a softer one. A finding is then put back
onto the parts (`place`).

A run is looked for only where it can be: two texts of the same role next to each other in the
walk, each a part's `text`; only then is the body walked once more to see which lists those parts
are in (`runs`). A message of one text part, and turns whose roles alternate, cost nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sluicegate.providers.texts import Text

from .detector import Span
from .placeholders import Vault

JOINS = ("", " ")

# A run's texts as they go on, given their role: as many as came, in order.
RunChange = Callable[[list[str], str], list[str]]


def _part(text: Text) -> bool:
    """Whether `text` is a content part's own text (not JSON, nothing signed or echoed)."""
    return text.key == "text" and isinstance(text.owner, dict) and not (text.json or text.signed or text.echo)


class Run(NamedTuple):
    """Texts read together: one text, or those of adjacent parts of the list `parts`."""

    texts: list[Text]
    parts: list[Any] | None = None


def runs(found: list[Text], body: Any) -> list[Run] | None:
    """`found` in runs, in order (most of one text); None when there is no run of more than one
    text, without a look at the body unless two texts of one role next to each other are parts."""
    part = [_part(text) for text in found]
    pairs = [
        at
        for at in range(1, len(found))
        if part[at]
        and part[at - 1]
        and found[at].role == found[at - 1].role
        and found[at].owner is not found[at - 1].owner
    ]
    if not pairs:
        return None
    where = _positions(
        body, {id(found[at].owner) for at in pairs} | {id(found[at - 1].owner) for at in pairs}
    )
    joined = set()
    for at in pairs:
        before, here = where.get(id(found[at - 1].owner)), where.get(id(found[at].owner))
        if before is not None and here is not None and before[0] is here[0] and here[1] == before[1] + 1:
            joined.add(at)
    if not joined:
        return None
    grouped: list[Run] = []
    for at, text in enumerate(found):
        if at in joined:
            grouped[-1] = Run([*grouped[-1].texts, text], where[id(text.owner)][0])
        else:
            grouped.append(Run([text]))
    return grouped


def _positions(body: Any, wanted: set[int]) -> dict[int, tuple[list[Any], int]]:
    """The list each `wanted` object of `body` is an element of, and its index there. A part
    holds no parts of its own, so a wanted one is not looked into."""
    where: dict[int, tuple[list[Any], int]] = {}
    pending = [body]
    while pending and len(where) < len(wanted):
        node = pending.pop()
        if type(node) is dict:
            pending.extend(value for value in node.values() if type(value) is dict or type(value) is list)
            continue
        for index, item in enumerate(node):
            if type(item) is dict:
                if id(item) in wanted:
                    where[id(item)] = (node, index)
                else:
                    pending.append(item)
            elif type(item) is list:
                pending.append(item)
    return where


def drop_emptied(run: Run, emptied: list[Text]) -> None:
    """Takes out of the run's list the parts a value spanning parts left empty (Anthropic refuses
    an empty text block); what they are read as, nothing, is unchanged. A cache breakpoint on one
    goes to the part before it."""
    assert run.parts is not None
    gone = {id(text.owner) for text in emptied}
    kept: list[Any] = []
    for part in run.parts:
        if id(part) not in gone:
            kept.append(part)
        elif "cache_control" in part and kept and isinstance(kept[-1], dict):
            kept[-1]["cache_control"] = part["cache_control"]
    run.parts[:] = kept


def place(
    texts: list[str], join: str, spans: list[Span], vault: Vault, *, restorable: bool = True
) -> list[str]:
    """`texts` with the `spans` found in `join.join(texts)` replaced: a value's placeholder in the
    text where the value starts, the rest of the value taken out of the texts it runs on into."""
    joined = join.join(texts)
    out: list[str] = []
    start = 0
    placed: set[int] = set()  # the spans whose placeholder is in an earlier text
    for text in texts:
        end = start + len(text)
        pieces, position = [], start
        for number, span in enumerate(spans):
            low, high = max(span.start, start), min(span.end, end)
            if low >= high:
                continue  # not in this text (or only in the join between texts)
            pieces.append(joined[position:low])
            if number not in placed:
                placed.add(number)
                value = joined[span.start : span.end]
                pieces.append(vault.placeholder(span.entity, value, restorable=restorable))
            position = high
        pieces.append(joined[position:end])
        out.append("".join(pieces))
        start = end + len(join)
    return out
