"""Which earlier turns of a conversation the last question depends on, and so are compared.

A follow-up ("What's their phone number?") means nothing without the turns it refers to, and
means the same after a reworded opening or a little chatter. So instead of matching every earlier
turn byte for byte, the semantic cache compares, turn by turn and by meaning, only the **context**:

- always the exchange before the last question: the previous user turn and everything after it
  (usually the assistant's answer, which may name what "their" stands for);
- further back, one user turn (with its answer) at a time while the earliest kept user turn
  itself refers back ("it", "that", "also", "What about ...", "And ..."; `lexicon.REFERRING`),
  or answers the assistant turn before it (`answers`: small talk such as "Yes.", "ok sounds
  good", "please help", or a reply taking up the question's words: "Have you tried restarting
  it?" / "I restarted it already"), up to
  `MAX_USER_TURNS`. Without that, "Delete my account." / "Are you sure?" / "Yes." / "Done." /
  "What happens to my data now?" left the first turn out (its content words are no name or
  number) and was served the answer stored for "Export my account data." at similarity 1.0.

Turns before the context are left out ("Hi, how are you?" before the real question), but what
they name and say is not: the names and numbers of the left-out turns (`Context.left_out`, as the
verifier's entity and number rules read them) and their content words (`Context.said`: stems,
and "not" for a negation; nothing for a turn of small talk, `lexicon.SMALL_TALK`) are part of
the exact scope, so a conversation about another place, date or animal never shares a scope,
whichever turn named it. Names alone were not enough: "my cat ate some chocolate" / "Oh no." /
"i'm so worried" / "First, a few questions." / "is this an emergency?" was served the answer
stored for the same conversation about a dog (similarity 1.0). And if one of
the left-out user turns sets terms for later answers ("Answer in French from now on", "I'm
vegan"; `lexicon.CONDITIONS`), the whole history is compared exactly, as is any history with a
message that is not plain text (images, tool calls, extra fields), a system message after the
first turn, or more than `MAX_LEFT_OUT` characters left out. The number and roles of the compared
turns are part of the exact scope too, so a question with context never matches one without.

Measured on `bench/semantic_eval` (tune part): chatter before a conversation stopped splitting
the cache (0 -> 100 % served) with no context or detail swap served; joining the turns into one
text instead served a different detail 8.7 % of the time, so each turn is compared on its own.
Keeping what left-out turns say in the scope costs most of that chatter again (50.7 % -> 7.3 %
served): most chitchat openings say something ("I wish I had telepathy"), and nothing tells it
from a fact the question depends on ("i take warfarin every day").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sluicegate.semantic import lexicon
from sluicegate.semantic.verify import names

MAX_USER_TURNS = 3  # a longer chain of references keeps the whole history exact
MAX_MESSAGES = 6
MAX_LEFT_OUT = 8_000  # characters read for names on the request path; a longer history stays exact
_WORD = re.compile(r"[a-z][a-z']*")


@dataclass(frozen=True, slots=True)
class Message:
    """An earlier message as the scope reader saw it: `text` is None when it is not plain text."""

    role: str
    text: str | None


@dataclass(frozen=True, slots=True)
class Context:
    """The compared turns, most recent first, with their roles; the names and numbers of the turns
    left out (sorted), and what they say (`said`: their content words, sorted). The exact scope
    holds the roles, `left_out` and `said`."""

    roles: tuple[str, ...]
    texts: tuple[str, ...]
    left_out: tuple[str, ...]
    said: tuple[str, ...] = ()


def context(earlier: Sequence[Message]) -> Context | None:
    """The turns the last question depends on, or None: compare the whole history exactly.
    `earlier`: the messages before the last question, system messages excluded; not empty."""
    if any(message.text is None or not message.text.strip() for message in earlier):
        return None
    users = [i for i, message in enumerate(earlier) if message.role == "user"]
    start, depth = (users[-1], 1) if users else (0, 0)
    while depth and (refers_back(earlier[start].text or "") or answers(earlier, start)):
        if depth == len(users):
            start = 0  # the first user turn refers back to an opening assistant turn: keep it
            break
        depth += 1
        if depth > MAX_USER_TURNS:
            return None
        start = users[-depth]
    kept, dropped = earlier[start:], [m.text or "" for m in earlier[:start]]
    if len(kept) > MAX_MESSAGES or sum(map(len, dropped)) > MAX_LEFT_OUT:
        return None
    if any(m.role == "user" and sets_terms(m.text or "") for m in earlier[:start]):
        return None
    return Context(
        roles=tuple(m.role for m in reversed(kept)),
        texts=tuple((m.text or "").strip() for m in reversed(kept)),
        left_out=tuple(sorted(set().union(*map(names, dropped)))),
        said=tuple(sorted(set().union(*map(said, dropped)))),
    )


def refers_back(text: str) -> bool:
    """Whether a user turn points at an earlier turn (a pronoun, "also", "What about ...")."""
    lower = text.lower()
    return any(word in lexicon.REFERRING for word in _WORD.findall(lower)) or bool(
        lexicon.REFERRING_PHRASES.search(lower)
    )


def answers(earlier: Sequence[Message], index: int) -> bool:
    """Whether the user turn at `index` answers the assistant turn before it: an acknowledgement
    ("Yes.", "ok, go ahead"), or a reply to a question that takes up one of its content words.
    A new topic after a chatty question ("pretty good, yours?") shares none, so is still read
    on its own."""
    words = _WORD.findall((earlier[index].text or "").lower())
    if _small_talk(words):
        return True
    before = earlier[index - 1] if index else None
    if before is None or before.role != "assistant" or "?" not in (before.text or ""):
        return False
    return bool(_stems(words) & _stems(_WORD.findall((before.text or "").lower())))


def said(text: str) -> frozenset[str]:
    """What a left-out turn says, for the exact scope: the stems of its content words, and "not"
    for a negation; nothing for a turn of small talk ("hey, how's your day going?", "ok sounds
    good"). Lower-case nouns are no names: "my cat ate some chocolate" left out of a conversation
    that asks "is this an emergency?" must keep it apart from "my dog ate some chocolate"."""
    words = [w[:-2] if w.endswith("'s") else w for w in _WORD.findall(text.lower())]
    if _small_talk(words):
        return frozenset()
    found = set()
    for word in words:
        if lexicon.is_negation(word) and word not in lexicon.ACKNOWLEDGING:
            found.add("not")
        elif word not in lexicon.STOPWORDS and word not in lexicon.ACKNOWLEDGING and _meant(word):
            found.add(lexicon.stem(word))
    return frozenset(found)


def _meant(word: str) -> bool:
    """Filler says nothing ("help", "tell"), unless it is one end of a scale ("good", "best")."""
    return word not in lexicon.FILLER or bool(lexicon.poles([word]))


def _small_talk(words: list[str]) -> bool:
    """A turn of acknowledgements, greetings and filler only: it means nothing on its own."""
    return all(
        word in lexicon.ACKNOWLEDGING
        or word in lexicon.SMALL_TALK
        or word in lexicon.FILLER
        or (word in lexicon.STOPWORDS and not lexicon.is_negation(word))
        for word in words
    )


def _stems(words: list[str]) -> set[str]:
    """Content words cut to 5 letters, so "restarted" meets "restarting"."""
    return {w[:5] for w in words if len(w) > 3 and w not in lexicon.STOPWORDS and w not in lexicon.FILLER}


def sets_terms(text: str) -> bool:
    """Whether a user turn sets terms for later answers (an instruction, a fact about the user)."""
    lower = text.lower()
    return any(word in lexicon.CONDITIONS for word in _WORD.findall(lower)) or bool(
        lexicon.CONDITION_PHRASES.search(lower)
    )
