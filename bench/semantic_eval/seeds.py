"""Hand-written seeds for the semantic-cache evaluation set (written for this project; no public
benchmark was used or copied), kept as data in `seeds.json` beside this module and read at import.

Three kinds of seed, expanded into labelled pairs by `generate.py`:

- `FAMILIES`: one request, phrasings that ask exactly the same thing (`para`), and hard negatives
  that look alike but ask something else, grouped by why they differ (`neg`: `negation`, `entity`,
  `number_date`, `scope`).
- `FRAMES`: templates with a slot; the same slot value under two templates is a paraphrase, a
  different value (or the `swap` templates) is a hard negative of the frame's category.
- `FOLLOWUPS`: short conversations whose last message only means something with its history.

And for the structural pairs, `STRUCTURAL_TEXTS`: requests asked again under a different system
prompt (`SYSTEM_PROMPTS`), model or tool list; the scope must keep them apart whatever the
embedding says.

A paraphrase here means "the answer to one is a correct answer to the other". In `seeds.json` a
frame's `swap`, `swap_category` and `symmetric` may be left out (their defaults below), as may a
family's `neg`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

SEEDS = Path(__file__).with_name("seeds.json")
#: (user, assistant) turns of a conversation.
Turns = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    base: str
    para: tuple[str, ...]
    neg: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """`templates` ask the same thing of `{x}`; `swap` templates ask something else of the same values."""

    name: str
    category: str
    templates: tuple[str, ...]
    values: tuple[dict[str, str], ...]
    swap: tuple[str, ...] = ()
    swap_category: str = "entity"
    # Templates whose meaning does not change when the values trade places (`{a}`/`{b}`): paraphrases.
    symmetric: tuple[str, ...] = ()


@dataclass(frozen=True)
class Followup:
    """`history` is (user, assistant) turns; `same` are follow-ups that ask the same thing;
    `other` are follow-ups with the same history that ask something else; `other_history` is a
    different history under which `same[0]` means something else."""

    history: Turns
    same: tuple[str, ...]
    other: tuple[str, ...]
    other_history: Turns


def _family(item: dict[str, Any]) -> Family:
    neg = {category: tuple(texts) for category, texts in item.get("neg", {}).items()}
    return Family(item["base"], tuple(item["para"]), neg)


def _frame(item: dict[str, Any]) -> Frame:
    return Frame(
        item["name"],
        item["category"],
        tuple(item["templates"]),
        tuple(item["values"]),
        swap=tuple(item.get("swap", ())),
        swap_category=item.get("swap_category", "entity"),
        symmetric=tuple(item.get("symmetric", ())),
    )


def _turns(turns: list[list[str]]) -> Turns:
    return tuple((user, assistant) for user, assistant in turns)


def _followup(item: dict[str, Any]) -> Followup:
    history, other_history = _turns(item["history"]), _turns(item["other_history"])
    return Followup(history, tuple(item["same"]), tuple(item["other"]), other_history)


_DATA: dict[str, Any] = orjson.loads(SEEDS.read_bytes())
FAMILIES: tuple[Family, ...] = tuple(_family(item) for item in _DATA["families"])
FRAMES: tuple[Frame, ...] = tuple(_frame(item) for item in _DATA["frames"])
FOLLOWUPS: tuple[Followup, ...] = tuple(_followup(item) for item in _DATA["followups"])
STRUCTURAL_TEXTS: tuple[str, ...] = tuple(_DATA["structural_texts"])
SYSTEM_PROMPTS: tuple[str, ...] = tuple(_DATA["system_prompts"])
