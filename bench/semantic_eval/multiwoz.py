"""Labelled request pairs built from MultiWOZ user turns (via ConvLab-3) and chitchat-dataset chats.

The wording is crowd-workers', not ours: every user and assistant turn is a MultiWOZ utterance as
ConvLab-3 ships it (grouped by dialogue act, slot values as placeholders, filled here from the
MultiWOZ value sets and databases), and every piece of chatter is the opening exchange of a chitchat-dataset
chat. What this module decides is only which two of them make a pair, and the label follows from
the annotation: the same dialogue act with the same slot values asks the same thing.

Single requests (one user message):
- `paraphrase` (same): two different utterances of one act (e.g. Restaurant-Inform Area+Price)
  with the same values ("a cheap place in the north" / "... north part of town, cheap").
- `near_repeat` (same): one utterance typed again (`retype.py`): one typo, casual case and
  punctuation, or contractions written out or in (`kind` says which).
- `value_swap` (different): one act, one slot value changed ("cheap" / "expensive").

Conversations (user asks about an entity, assistant answers, user asks for a detail):
- `conv_paraphrase` (same): same history, the detail asked in other words.
- `conv_reworded` (same): the first user turn in other words, about the same entity.
- `conv_chatter` (same): a chitchat exchange before the same conversation.
- `conv_typo` (same): the entity's name misspelt in the first user turn (one slip of the keyboard).
- `context_swap` (different): the same last question about another entity ("their phone number").
- `detail_swap` (different): same history, another detail asked (phone / postcode).

Templates, entities and chatter are each split by hash into `tune` and `heldout` before any pair
is drawn, so a held-out pair never reuses wording seen while tuning.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.semantic_eval import packaged
from bench.semantic_eval.generate import body
from bench.semantic_eval.retype import casual, contraction, typo

PARTS = ("tune", "heldout")
PER_CATEGORY = 150  # pairs per category and part (twice that for value_swap, the main single-turn trap)
SINGLE_ACTS = {
    "Restaurant-Inform": ("Food;", "Area;Price;", "Area;Food;", "Food;Price;", "Area;Food;Price;", "Name;"),
    "Hotel-Inform": ("Area;Price;", "Price;Type;", "Area;Stars;", "Stars;Type;", "Area;Type;", "Name;"),
    "Attraction-Inform": ("Area;Type;", "Type;", "Name;"),
}
# The detail a user asks for, and the words that show an utterance asks for it (and only it).
DETAILS = {"Phone": ("phone", "number"), "Addr": ("address",), "Post": ("postcode", "post code", "postal")}
ENTITY_DOMAINS = ("Hotel", "Restaurant", "Attraction")
_SLOT_VALUES = {
    "Area": "area",
    "Price": "pricerange",
    "Food": "food",
    "Type": "type",
    "Stars": "stars",
    "Name": "name",
}
_PLACEHOLDER = re.compile(r"#([A-Z]+)-([A-Z]+)-([A-Z]+)#")


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that tie an utterance to an earlier turn: such a turn is no standalone request.
_CONTEXTUAL = _set(
    """also instead other another else same that it its those them they there yes no ok okay sure too
    either both one ones any more great thanks thank actually then about"""
)
# Words by which a request for one detail also asks something else, or about another place.
_DRIFT = _set(
    """and both each all book booking reference taxi train closest nearest best pick any museum college
    park cinema pool gallery theatre church rating stars area price"""
)
_AREAS = ("north", "south", "east", "west", "centre")
# Words that state a slot's value in a template's own text: an act without that slot that still
# says it is mis-annotated ("an inexpensive #FOOD# restaurant" filed under Food only).
_STATED = {
    "AREA": _set("north south east west centre center central"),
    "PRICE": _set("cheap expensive moderate moderately inexpensive pricey budget priced"),
    "STARS": _set("star stars"),
    "FOOD": _set("food cuisine"),
}

Pair = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pools:
    """Everything one part may draw from."""

    single: dict[tuple[str, str], list[str]]  # (act, slots) -> user templates
    context: dict[str, list[str]]  # domain -> user templates naming one entity
    answer: dict[str, list[str]]  # domain -> assistant templates naming one entity
    detail: dict[tuple[str, str], list[str]]  # (domain, detail) -> user turns asking for it
    entities: dict[str, list[str]]
    values: dict[str, dict[str, list[str]]]
    chatter: list[tuple[str, str]]


def build(per_category: int = PER_CATEGORY) -> list[Pair]:
    data = packaged.multiwoz()
    chats = packaged.chitchat()
    pairs: list[Pair] = []
    for part in PARTS:
        pools = _pools(data, chats, part)
        for category, make in _MAKERS.items():
            rng = random.Random(f"multiwoz:{category}:{part}")
            for n in range(per_category * (2 if category == "value_swap" else 1)):
                pair = make(pools, rng)
                pair.update(id=f"mw-{part}-{category}-{n:03d}", category=category, part=part)
                pair["source"] = "multiwoz+chitchat" if category == "conv_chatter" else "multiwoz"
                pairs.append(pair)
    return pairs


def part_of(key: str) -> str:
    return PARTS[hashlib.sha256(key.encode()).digest()[0] % 2]


def _pools(data: dict[str, Any], chats: dict[str, Any], part: str) -> Pools:
    user, system, values = data["user"], data["system"], data["values"]
    single = {
        (act, slots): _mine([t for t in user[act].get(slots, []) if _standalone(t, slots)], part)
        for act, keys in SINGLE_ACTS.items()
        for slots in keys
    }
    context = {
        d: _mine([t for t in user[f"{d}-Inform"]["Name;"] if _names_one(t, d)], part) for d in ENTITY_DOMAINS
    }
    answer = {
        d: _mine(
            [
                t
                for a in ("Inform", "Recommend")
                for t in system[f"{d}-{a}"].get("Name;", [])
                if _names_one(t, d)
            ],
            part,
        )
        for d in ENTITY_DOMAINS
    }
    detail = {
        (d, k): _mine([t for t in user[f"{d}-Request"].get(f"{k};", []) if _asks_only(t, k)], part)
        for d in ENTITY_DOMAINS
        for k in DETAILS
    }
    # Names from the databases: the value sets also hold annotators' fragments ("the mi", "da v").
    entities = {d: _mine([place["name"] for place in data[d.lower()]], part) for d in ENTITY_DOMAINS}
    chatter = _mine(list(_openings(chats)), part, key=lambda c: c[0])
    return Pools(single, context, answer, detail, entities, values, chatter)


def _mine(items: list[Any], part: str, key: Callable[[Any], str] = str) -> list[Any]:
    """The items that fall in `part`, in a fixed order."""
    return sorted({key(i): i for i in items if part_of(key(i)) == part}.values(), key=key)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _standalone(template: str, slots: str) -> bool:
    names = [m.group(3) for m in _PLACEHOLDER.finditer(template)]
    wanted = [s.upper() for s in slots.rstrip(";").split(";")]
    words = set(_words(_PLACEHOLDER.sub(" ", template)))
    unstated = [slot for slot in _STATED if slot not in wanted]
    return (
        sorted(names) == sorted(wanted)
        and len(template.split()) <= 22
        and not words & _CONTEXTUAL
        and not any(words & _STATED[slot] for slot in unstated)
    )


def _names_one(template: str, domain: str) -> bool:
    names = [m.groups() for m in _PLACEHOLDER.finditer(template)]
    return (
        len(names) == 1
        and names[0][0] == domain.upper()
        and names[0][2] == "NAME"
        and len(template.split()) <= 22
    )


def _asks_only(template: str, detail: str) -> bool:
    text = template.lower()
    others = [w for k, ws in DETAILS.items() if k != detail for w in ws]
    capitalised = [w for w in template.split()[1:] if w[:1].isupper() and w != "I"]
    return (
        any(w in text for w in DETAILS[detail])
        and not any(w in text for w in others)
        and "#" not in template
        and not capitalised  # names another place: no longer a question about the one in context
        and len(template.split()) <= 16
        and not _DRIFT & set(_words(text))
        and not re.search(r"\bfor (?!that|it|them|this|the (hotel|restaurant|attraction|place))", text)
    )


def _openings(chats: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The first two turns of each chat (one speaker, then the other) when both are short."""
    for chat in chats.values():
        turns = chat.get("messages", [])
        if len(turns) < 2:
            continue
        first, second = (" ".join(m["text"].strip() for m in turn) for turn in turns[:2])
        if all(0 < len(t.split()) <= 20 and t.isascii() for t in (first, second)):
            yield first, second


def detokenize(text: str) -> str:
    """MultiWOZ's tokenised text back to how it was typed ("I ' m" -> "I'm", "ca n't" -> "can't")."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ?' ?(m|s|d|ll|re|ve)\b", r"'\1", text)
    text = re.sub(r" n't\b", "n't", text)
    return re.sub(r" ([.,?!;:])", r"\1", text)


def _fill(template: str, values: dict[str, str]) -> str:
    return detokenize(_PLACEHOLDER.sub(lambda m: values[m.group(3)], template))


def _draw_values(pools: Pools, rng: random.Random, act: str, slots: str) -> dict[str, str]:
    domain = act.split("-")[0].lower()
    chosen = {}
    for slot in slots.rstrip(";").split(";"):
        if slot == "Name":
            chosen["NAME"] = _name(rng.choice(pools.entities[domain.capitalize()]))
            continue
        options = [
            v for v in pools.values[domain][_SLOT_VALUES[slot]] if "do n't care" not in v and v.isascii()
        ]
        if slot == "Area":
            options = list(_AREAS)  # the value set also holds town names mis-annotated as areas
        chosen[slot.upper()] = rng.choice(sorted(options))
    return chosen


def _name(entity: str) -> str:
    return " ".join(w if w in ("and", "of", "the") else w.capitalize() for w in entity.split())


def _single(pools: Pools, rng: random.Random) -> tuple[str, str, list[str]]:
    act, slots = rng.choice(sorted(k for k, v in pools.single.items() if len(v) >= 2))
    return act, slots, pools.single[(act, slots)]


def _paraphrase(pools: Pools, rng: random.Random) -> Pair:
    act, slots, templates = _single(pools, rng)
    first, second = rng.sample(templates, 2)
    values = _draw_values(pools, rng, act, slots)
    return _pair(_fill(first, values), _fill(second, values), same=True, act=act)


def _value_swap(pools: Pools, rng: random.Random) -> Pair:
    act, slots, templates = _single(pools, rng)
    first = rng.choice(templates)
    second = first if rng.random() < 0.5 else rng.choice(templates)
    values = _draw_values(pools, rng, act, slots)
    other = dict(values)
    while other == values:
        other.update(_draw_values(pools, rng, act, rng.choice(slots.rstrip(";").split(";")) + ";"))
    return _pair(_fill(first, values), _fill(second, other), same=False, act=act)


def _near_repeat(pools: Pools, rng: random.Random) -> Pair:
    act, slots, templates = _single(pools, rng)
    text = _fill(rng.choice(templates), _draw_values(pools, rng, act, slots))
    kind = rng.choice(("typo", "casual", "contraction"))
    retyped = {"typo": typo, "casual": casual, "contraction": contraction}[kind](text, rng)
    if retyped == text:
        kind, retyped = "casual", casual(text, rng)
    return _pair(text, retyped, same=True, act=act, kind=kind)


def _conversation(pools: Pools, rng: random.Random) -> tuple[str, str, str, str, str]:
    """A domain, an entity, a first user turn, the assistant's answer and a detail asked."""
    domain = rng.choice(ENTITY_DOMAINS)
    entity = rng.choice(pools.entities[domain])
    detail = rng.choice(sorted(k for (d, k), v in pools.detail.items() if d == domain and v))
    return domain, entity, rng.choice(pools.context[domain]), rng.choice(pools.answer[domain]), detail


def _turns(context: str, answer: str, entity: str) -> tuple[str, str]:
    name = {"NAME": _name(entity)}
    return _fill(context, name), _fill(answer, name)


def _conv_paraphrase(pools: Pools, rng: random.Random) -> Pair:
    domain, entity, context, answer, detail = _conversation(pools, rng)
    first, second = rng.sample(pools.detail[(domain, detail)], 2)
    history = (_turns(context, answer, entity),)
    return _pair(detokenize(first), detokenize(second), history, history, same=True, act=f"{domain}-{detail}")


def _conv_reworded(pools: Pools, rng: random.Random) -> Pair:
    domain, entity, context, answer, detail = _conversation(pools, rng)
    other = rng.choice([c for c in pools.context[domain] if c != context])
    ask = detokenize(rng.choice(pools.detail[(domain, detail)]))
    a, b = (_turns(context, answer, entity),), (_turns(other, answer, entity),)
    return _pair(ask, ask, a, b, same=True, act=f"{domain}-{detail}")


def _conv_chatter(pools: Pools, rng: random.Random) -> Pair:
    domain, entity, context, answer, detail = _conversation(pools, rng)
    ask = detokenize(rng.choice(pools.detail[(domain, detail)]))
    history = (_turns(context, answer, entity),)
    return _pair(
        ask, ask, history, (rng.choice(pools.chatter), *history), same=True, act=f"{domain}-{detail}"
    )


def _conv_typo(pools: Pools, rng: random.Random) -> Pair:
    user = slipped = ""
    while slipped == user:  # a name of short words only has no slip to make: draw another
        domain, entity, context, answer, detail = _conversation(pools, rng)
        user, reply = _turns(context, answer, entity)
        name = detokenize(_name(entity))
        slipped = user.replace(name, typo(name, rng))
    ask = detokenize(rng.choice(pools.detail[(domain, detail)]))
    return _pair(ask, ask, ((user, reply),), ((slipped, reply),), same=True, act=f"{domain}-{detail}")


def _context_swap(pools: Pools, rng: random.Random) -> Pair:
    domain, entity, context, answer, detail = _conversation(pools, rng)
    other = rng.choice([e for e in pools.entities[domain] if e != entity])
    ask = detokenize(rng.choice(pools.detail[(domain, detail)]))
    a, b = (_turns(context, answer, entity),), (_turns(context, answer, other),)
    return _pair(ask, ask, a, b, same=False, act=f"{domain}-{detail}")


def _detail_swap(pools: Pools, rng: random.Random) -> Pair:
    domain, entity, context, answer, detail = _conversation(pools, rng)
    other = rng.choice(sorted(k for (d, k), v in pools.detail.items() if d == domain and v and k != detail))
    history = (_turns(context, answer, entity),)
    first = detokenize(rng.choice(pools.detail[(domain, detail)]))
    second = detokenize(rng.choice(pools.detail[(domain, other)]))
    return _pair(first, second, history, history, same=False, act=f"{domain}-{detail}/{other}")


def _pair(
    a: str,
    b: str,
    history_a: tuple[tuple[str, str], ...] = (),
    history_b: tuple[tuple[str, str], ...] = (),
    *,
    same: bool,
    act: str,
    kind: str = "",
) -> Pair:
    pair: Pair = {"same": same, "act": act, "a": body(a, history_a), "b": body(b, history_b)}
    if kind:
        pair["kind"] = kind
    return pair


_MAKERS: dict[str, Callable[[Pools, random.Random], Pair]] = {
    "paraphrase": _paraphrase,
    "near_repeat": _near_repeat,
    "value_swap": _value_swap,
    "conv_paraphrase": _conv_paraphrase,
    "conv_reworded": _conv_reworded,
    "conv_chatter": _conv_chatter,
    "conv_typo": _conv_typo,
    "context_swap": _context_swap,
    "detail_swap": _detail_swap,
}
