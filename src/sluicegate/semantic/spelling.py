"""A misspelt word of a new request takes the spelling of the stored request it is compared with.

A typo hurts the semantic cache twice: the embedder splits the unknown word into pieces ("Fitzbilles"
scores far lower next to "Fitzbillies" than the one letter suggests), and the verifier reads it as
a name on one side only. So before a candidate is judged, each word of the new request that the
embedder's vocabulary does not know and that is one keyboard slip (one letter dropped, added,
changed, or two neighbours swapped) from exactly one word of the candidate is rewritten in the
candidate's spelling; the caller embeds the aligned text again. Known words are never changed, so
"east" next to "west" stays a difference; nor are the letters of a code ("Pixel 8a", "S23"), and an
edit that as often makes another word (`slip`: "methanol"/"ethanol", "butene"/"butane") is not
taken for a typo: the verifier refuses such a pair (`lookalike`). Measured on
`bench/semantic_eval` (tune part): near-repeats with one typo go from 44 % to 98 % served,
precision unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

MIN_LENGTH = 4  # shorter words are too often one slip from another real word
# "what's" is one word ("whats" becomes it); letters inside a code ("S23", "8a", "RTX4070Ti") are
# not a word: a code one letter from another names another product.
_WORD = re.compile(r"(?<![\w+])[A-Za-z]+(?:'[A-Za-z]+)*(?![\w+])")
# An edit at either end of a short word changes the word more often than it slips: "methanol" is
# not "ethanol", nor "hexene" "hexane" ("-ene"/"-ane"/"-ol"/"-al" name other compounds).
SHORT = 8
_VOWELS = frozenset("aeiouy")


class Spelling:
    def __init__(self, known: frozenset[str]) -> None:
        """`known`: lower-case words that are never rewritten (the embedder's whole-word vocabulary)."""
        self.known = known

    @classmethod
    def from_tokenizer(cls, path: Path) -> Spelling:
        """The whole words of a WordPiece `tokenizer.json` (the embedder's own vocabulary)."""
        vocabulary = orjson.loads(path.read_bytes())["model"]["vocab"]
        return cls(frozenset(word for word in vocabulary if word.isalpha()))

    @classmethod
    def packaged(cls) -> Spelling:
        from sluicegate.embeddings.local import ModelFiles

        return cls.from_tokenizer(ModelFiles.packaged().tokenizer)

    def unknown(self, text: str) -> bool:
        """Whether `text` has a word alignment could rewrite (long enough, not in the vocabulary)."""
        return any(self._rewritable(word) for word in _WORD.findall(text))

    def align(self, stored: str, new: str) -> str:
        """`new` with each rewritable word that is one slip from exactly one word of `stored`
        spelt as there."""
        theirs = {word.lower(): word for word in _WORD.findall(stored)}

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            if not self._rewritable(word) or word.lower() in theirs:
                return word
            near = [spelt for lower, spelt in theirs.items() if slip(word.lower(), lower)]
            return near[0] if len(near) == 1 else word

        return _WORD.sub(fix, new)

    def lookalike(self, stored: str, new: str) -> str:
        """A word of `new` the vocabulary does not know that is one slip from a word of `stored`
        but that `slip` takes for another word ("methanol" beside "ethanol"), as "new/stored";
        "" when there is none. Left unaligned it would only split into similar pieces."""
        theirs = {word.lower() for word in _WORD.findall(stored)}
        for word in {word.lower() for word in _WORD.findall(new)} - theirs:
            if not self._rewritable(word):
                continue
            for other in theirs:
                plural = word == other + "s" or other == word + "s"
                if not plural and one_slip(word, other) and not slip(word, other):
                    return f"{word}/{other}"
        return ""

    def _rewritable(self, word: str) -> bool:
        return len(word) >= MIN_LENGTH and word.lower() not in self.known


def slip(a: str, b: str) -> bool:
    """`a` is one slip from `b` and not likely another word: in a word of at most `SHORT` letters, a
    letter added or dropped at its start or end (but a plural "s"), or a vowel changed among its
    last three letters, makes another word (methanol/ethanol, butene/butane) as often as a typo."""
    if not one_slip(a, b):
        return False
    if max(len(a), len(b)) > SHORT:
        return True
    if len(a) != len(b):
        short, long = sorted((a, b), key=len)
        return long[1:] != short and (long[:-1] != short or long[-1] == "s")  # a plural is no other word
    at = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    changed = a[at] != b[at] and a[at + 1 :] == b[at + 1 :]  # one letter, not a swap
    return not (changed and at >= len(a) - 3 and {a[at], b[at]} <= _VOWELS)


def one_slip(a: str, b: str) -> bool:
    """Levenshtein distance one, or two adjacent letters swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
