"""One action asked about in place of another: "What's the penalty for *paying* taxes late?" is not
"... for *filing* taxes late?", nor "How do I *merge* two branches?" "How do I *rebase* ...?".

The rest of such a pair is word for word the same, so the embedder scores it 0.95 and the NLI
model, which reads the shared frame, does not see the two as contradicting (-0.9). A verb is
recognised by where it stands, not by a dictionary: an -ing form (a gerund, "for filing"), or a
word right after "to" or after an auxiliary and its subject ("do I merge", "can we pay"). Two
verbs are the same action when they share a root ("pay" / "paying"), when `lexicon` puts them on
one side of a group ("remove" / "delete", "start" / "begin"), or when they are listed as
synonyms here; light verbs (get, make, do, go) are stop words and never compared.
"""

from __future__ import annotations

from sluicegate.semantic import lexicon

_AUXILIARIES = frozenset(
    ["do", "does", "did", "can", "could", "should", "would", "will", "shall", "may", "might", "must"]
)
_SUBJECTS = frozenset(["i", "you", "we", "they", "he", "she", "it", "one", "someone", "people"])

# Verbs that name one action; a pair within a set is a rewording, not another question.
_SYNONYMS = [
    frozenset(words.split())
    for words in (
        "fix repair mend",
        "buy purchase",
        "choose pick select",
        "find locate",
        "show display",
        "use utilize utilise",
        "help assist",
        "talk speak",
        "write compose draft",
        "check verify",
        "cook prepare",
        "obtain acquire",
        "calculate compute",
        "stop halt",
        "end finish",
        "make create",
    )
]


def other_action(a: list[str], b: list[str]) -> str:
    """`x / y` when the two word lists (lower case, in order) are the same but for one word, and
    that word is a verb on both sides naming another action; "" otherwise."""
    if len(a) != len(b):
        return ""
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) != 1:
        return ""
    i = differ[0]
    x, y = a[i], b[i]
    if not ((_gerund(x) and _gerund(y)) or _verb_slot(a, i)):
        return ""
    return "" if _same_action(x, y) else f"{x} / {y}"


def _gerund(word: str) -> bool:
    return len(word) >= 6 and word.endswith("ing") and word.isalpha()


def _verb_slot(words: list[str], i: int) -> bool:
    """After "to", or after an auxiliary and its subject ("how do I ...", "can we ...")."""
    if i >= 1 and words[i - 1] == "to":
        return True
    return i >= 2 and words[i - 1] in _SUBJECTS and words[i - 2] in _AUXILIARIES


def _same_action(x: str, y: str) -> bool:
    if any(not w.isalpha() or w in lexicon.STOPWORDS or w in lexicon.FILLER for w in (x, y)):
        return True  # no verb of its own ("get", "tell"), or a number or name: other rules judge
    first, second = _forms(x), _forms(y)
    if first & second or _root(x).startswith(_root(y)) or _root(y).startswith(_root(x)):
        return True
    if any(first & group and second & group for group in _SYNONYMS):
        return True
    ours, theirs = lexicon.poles(sorted(first)), lexicon.poles(sorted(second))
    return any(ours.get(group, frozenset()) & sides for group, sides in theirs.items())


def _root(word: str) -> str:
    """ "filing" and "file" -> "fil", "merged" -> "merg", "pays" -> "pay": one verb's forms meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _forms(word: str) -> set[str]:
    root = _root(word)
    return {word, root, root + "e"}
