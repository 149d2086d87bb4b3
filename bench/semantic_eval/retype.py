"""A user's request typed again: one slip of the keyboard, casual case and punctuation, or
contractions written out or in (the `near_repeat` and `conv_typo` pairs of `multiwoz.py`)."""

from __future__ import annotations

import random
import re


def typo(text: str, rng: random.Random) -> str:
    """One slip of the keyboard in one word of four letters or more: two letters swapped or one
    dropped. The text is returned as it was when no word is long enough."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w.rstrip(".,?!")) >= 4 and w.rstrip(".,?!").isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    core = words[i].rstrip(".,?!")
    j = rng.randrange(1, len(core) - 1)
    slipped = (
        core[:j] + core[j + 1] + core[j] + core[j + 2 :] if rng.random() < 0.5 else core[:j] + core[j + 1 :]
    )
    words[i] = slipped + words[i][len(core) :]
    return " ".join(words)


def casual(text: str, rng: random.Random) -> str:
    return text.lower().rstrip(" .?!")


_CONTRACTIONS = (
    ("I am", "I'm"), ("I would", "I'd"), ("I will", "I'll"), ("do not", "don't"), ("does not", "doesn't"),
    ("What is", "What's"), ("what is", "what's"), ("Where is", "Where's"), ("that is", "that's"),
    ("I have", "I've"), ("can not", "can't"), ("cannot", "can't"), ("it is", "it's"), ("there is", "there's"),
)  # fmt: skip


def contraction(text: str, rng: random.Random) -> str:
    """Contractions written in if the text has none to write out, else written out."""
    for full, short in _CONTRACTIONS:
        if short in text:
            return text.replace(short, full)
    for full, short in _CONTRACTIONS:
        if re.search(rf"\b{full}\b", text):
            return re.sub(rf"\b{full}\b", short, text)
    return text
