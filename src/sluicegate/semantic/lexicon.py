"""Word lists behind the verification rules (negators, numbers, dates, tenses, opposed words,
filler) and behind reading a conversation (words that refer back, words that set terms).

General English, not tuned to one domain. A list can only make the verifier refuse more (or, for
`FILLER` and `HARMLESS`, refuse less); growing one is how the rules learn a new trap.
"""

from __future__ import annotations

import math
import re


def _list(text: str) -> list[str]:
    return text.split()


def _words(text: str) -> frozenset[str]:
    return frozenset(_list(text))


STOPWORDS = _words(
    """a an the this that these those it its it's is are was were be been being am do does did done
    doing have has had having i me my mine we us our you your yours he him his she her they them
    their what which who whom whose when where why how whether if then than so as of at by for from
    in into on onto to with about over under up down out off again also too very can could may might
    must shall should will would and or but nor vs versus between there here any some such own same
    just only both each few more most other many much s t don let let's i'm i'd i've you're what's
    how's that's there's get got go going make made one's via per like please during while within
    through across around near among"""
)

NEGATORS = _words("not no never none nobody nothing nowhere neither nor without except excluding cannot cant")

# Words that introduce a restricting phrase: "... on Windows", "... during pregnancy", "... for kids".
PREPOSITIONS = _words(
    """on in at for during while with without after before under over from to if when by near
    within through across around among against unless until"""
)

DETERMINERS = _words("a an the this that these those my your our their his her its some any every each")

FILLER = _words(
    """please thanks thank thx hey hi hello quick question just really actually kindly help tell
    know want need explain describe show give list simple simply brief briefly exactly way ways step
    steps process tip tips idea ideas good best common main usual usually typical general overview
    summary some any sure okay ok anyone someone something thing things recommendation
    recommendations suggestion suggestions"""
)

# Words whose presence or absence never changes a request: when dropping them from both sides
# leaves the same sequence, the two differ only by wording noise (case, punctuation, greetings).
HARMLESS = FILLER | _words(
    """a an the is are was were be been am do does did can could would will should shall i me my we
    our you your it its this that these those so well let let's i'm i'd ok okay"""
)

DATES = _words(
    """january february march april june july august september october november december jan feb
    mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday
    sunday mondays tuesdays wednesdays thursdays fridays saturdays sundays today tomorrow yesterday
    tonight weekend noon midnight"""
)

_NUMBER_WORDS: dict[str, float] = {
    **{w: i for i, w in enumerate(_list("zero one two three four five six seven eight nine ten"))},
    **{w: i + 11 for i, w in enumerate(_list("eleven twelve thirteen fourteen fifteen sixteen seventeen"))},
    **{w: i + 18 for i, w in enumerate(_list("eighteen nineteen twenty"))},
    **{w: 10 * (i + 3) for i, w in enumerate(_list("thirty forty fifty sixty seventy eighty ninety"))},
    **{w: i + 1 for i, w in enumerate(_list("first second third fourth fifth sixth seventh eighth ninth"))},
    "tenth": 10, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "dozen": 12,
    "half": 0.5, "quarter": 0.25, "double": 2, "twice": 2, "triple": 3, "single": 1, "pair": 2,
}  # fmt: skip
_DIGITS = re.compile(r"[$€£]?(\d+(?:[.,:]\d+)*)(st|nd|rd|th|am|pm|%|k)?")

# Groups of mutually exclusive alternatives: a request using one alternative of a group is not
# answered by one using another alternative of the same group.
_OPPOSED: dict[str, tuple[str, ...]] = {
    "valence": (
        "good great beneficial benefit healthy advantage pro pros positive safe safely helpful",
        "bad harmful unhealthy risk downside disadvantage con cons negative dangerous unsafe danger"
        " lethal deadly fatal toxic poisonous",
    ),
    "rank": ("best top better", "worst worse"),
    "change": (
        "increase raise improve boost grow gain higher",
        "decrease lower reduce hurt drop shrink lose ruin damage",
    ),
    "presence": ("install add create insert enable setup", "uninstall remove delete disable"),
    "io": ("read load import download", "write save export upload"),
    "consent": ("accept approve agree", "decline declining reject refuse deny"),
    "trade": ("buy purchase bought", "sell sold"),
    "outcome": ("win won winner", "lose lost loser"),
    "cipher": ("encrypt encode", "decrypt decode"),
    "lure": ("attract", "repel eliminate rid kill"),
    "making": ("build built construct", "fall fell collapse destroy demolish torn"),
    "run": ("start begin", "stop end finish quit"),
    "time": ("before earlier prior", "after later"),
    "extreme": (
        "min minimum least lowest smallest shortest cheapest fewest",
        "max maximum highest largest biggest tallest longest greatest",
    ),
    # Which point of a range: the maximum dose is not the recommended one, nor the average wage the
    # minimum. Unlike `extreme` it narrows ("the dose" / "the maximum dose"), so "at least" stays out.
    "bound": (
        "min minimum lowest smallest shortest cheapest fewest",
        "max maximum highest largest biggest tallest longest greatest",
        "average",
        "median",
        "recommended",
    ),
    "compare": ("bigger larger greater longer taller higher more", "smaller shorter lower less fewer"),
    # Scales of gradable words: the comparatives and superlatives ("faster", "slowest") are read as
    # their base word (`poles`), so "the fastest land animal" is not "the slowest".
    "size": ("big large huge", "small little tiny"),
    "height": ("high tall", "low short"),
    "length": ("long", "short"),
    "position": ("upper top", "lower bottom"),
    "speed": ("fast quick rapid", "slow"),
    "ease": ("easy", "hard difficult"),
    "strength": ("strong", "weak"),
    "depth": ("deep", "shallow"),
    "youth": ("old elderly", "young"),
    "novelty": ("new", "old"),
    "weight": ("heavy", "light"),
    "frequency": ("common frequent", "rare uncommon"),
    "loudness": ("loud noisy", "quiet silent"),
    "wealth": ("rich wealthy", "poor"),
    "width": ("wide broad", "narrow"),
    "thickness": ("thick", "thin"),
    "wetness": ("wet damp moist", "dry"),
    "brightness": ("bright light", "dark dim"),
    "distance": ("near close nearby", "far farther farthest further furthest distant"),
    "heat": ("hot warm heat", "cold cool chill"),
    "firmness": ("hard firm hard-boiled", "soft runny soft-boiled"),
    "level": ("junior beginner beginners entry-level basic", "senior advanced expert experienced"),
    "number": ("singular", "plural"),
    "phase": ("freezing freeze frozen", "boiling boil melting"),
    "price": ("inflation", "deflation"),
    "cost": (
        "cheap cheaper inexpensive affordable low-cost",
        "moderate moderately mid-range midrange",
        "expensive pricey costly upscale luxury luxurious high-end",
    ),
    "quantity": ("all every each always", "some several few sometimes"),
    "sex": ("male man men boy boys", "female woman women girl girls"),
    "age": (
        "adult adults grown-up",
        "child children kid kids toddler toddlers baby babies puppy puppies kitten kittens",
    ),
    "period": ("early", "late"),
    "daytime": ("morning", "afternoon", "evening", "night"),
    "axis": ("vertical vertically", "horizontal horizontally"),
    "compass": ("north northern", "south southern", "east eastern", "west western"),
    "season": ("spring", "summer", "autumn", "winter"),
    "meal": ("breakfast", "lunch", "dinner"),
    "colour": ("red", "blue", "green", "yellow", "black", "white", "orange", "purple", "pink", "brown"),
    "order": ("ascending", "descending"),
    "scale": ("celsius", "fahrenheit"),
}
# Groups where naming any alternative narrows a request that names none ("the early symptoms",
# "a female puppy", "in descending order"); looser groups (good/bad) only conflict.
_NARROWING = _words(
    "period sex daytime season meal colour heat firmness level axis compass order scale phase cost bound"
)

# Auxiliaries and copulas by tense: "Who was the president?" is not "Who is the president?".
# Contractions are listed whole ("who's"): the tokenizer keeps them as one word.
PAST = _words("was were did had wasn't weren't didn't hadn't")
PRESENT = _words(
    """is are am does do has have isn't aren't doesn't don't hasn't haven't who's what's where's
    when's how's that's there's it's here's he's she's they're we're you're i'm"""
)

# A greeting that opens a request names no time of day it asks about ("Good afternoon, ...").
GREETING = re.compile(r"^\W*(?:(?:hi|hello|hey)\b[\s,.!]*)?good\s+(?:morning|afternoon|evening|day)\b", re.I)

# Words by which a user turn points at an earlier one ("What's *their* phone number?", "*And*
# the postcode?"): the turn it points at is part of what it means. Generous on purpose: a false
# "refers back" only compares one more turn. Additive words ("also", "too", "again", "more")
# are not listed: "I also need a hotel called ..." says what it needs, and the names and numbers
# of the turns left out stay in the exact scope anyway (`history`).
REFERRING = _words(
    """it its it's itself they them their theirs themselves that those this these he him his she
    her hers one ones such another other others else instead same either both neither former
    latter above previous earlier mentioned"""
)
# A user turn made of these (and stop words) acknowledges the assistant turn before it ("Yes.",
# "ok, go ahead"): it means nothing without that turn and the one it asked about (`history`).
ACKNOWLEDGING = _words(
    """yes yeah yep yup no nope nah ok okay sure confirm confirmed correct right exactly fine go
    ahead proceed agreed absolutely definitely certainly indeed please thanks thank done alright
    great perfect sounds"""
)
# Small talk: a turn made of these, acknowledgements, filler and stop words ("hey, how's your day
# going?", "ok sounds good", "haha cool") says nothing a later answer depends on. Only a whole turn
# of them is small talk: in "i take warfarin every day", "day" is what the turn says (`history`).
SMALL_TALK = _words(
    """hi hello hey heya hiya howdy hola yo sup wassup greetings morning afternoon evening day night
    today doing fine well pretty nice cool awesome sweet wonderful lovely amazing excellent fantastic
    glad meet pleasure welcome cheers bye goodbye appreciate appreciated wow oh ah ahh aha hmm hm
    um uh huh haha hahaha lol lmao omg yay gotcha understood understand see sense makes noted really
    honestly friend buddy dude man guys everyone everybody there how're im ive id whats hows thats
    theres youre lets"""
)
# ... and phrases: a turn that opens with a conjunction ("And the postcode?"), "what about ...",
# or "there" that points at a place (not "is there", "there are").
REFERRING_PHRASES = re.compile(
    r"^\W*(?:and|but|or|so|then)\b|\b(?:what|how) about\b"
    r"|(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\b(?!\s+(?:is|are|was|were|be)\b|'s)",
    re.I,
)

# Words by which an earlier user turn sets terms for later answers: an instruction on how to
# answer ("Answer in French from now on") or a fact about the user ("I'm vegan"). Such a turn
# keeps the whole history exact, even when the last question does not refer to it.
CONDITIONS = _words(
    """answer answers respond reply replies write speak translate pretend act roleplay persona
    imagine assume remember forget ignore always never format formal informal tone style bullet
    bullets json markdown concise brief briefly shorter longer detailed words sentences sentence
    paragraph paragraphs emoji emojis language english french german spanish italian portuguese
    chinese japanese korean russian arabic hindi dutch polish turkish swedish allergic allergy
    allergies vegan vegetarian diabetic pregnant gluten kosher halal wheelchair budget kids children
    child baby toddler elderly disabled"""
)
CONDITION_PHRASES = re.compile(
    r"\b(?:from now on|call me|my name is|i am an?|i'm an?|im an?|i live|we live|i'm from|i am from|"
    r"years old|you are an?|you're an?)\b",
    re.I,
)


def _pole_table() -> dict[str, tuple[tuple[str, int], ...]]:
    table: dict[str, list[tuple[str, int]]] = {}
    for group, sides in _OPPOSED.items():
        for side, words in enumerate(sides):
            for word in words.split():
                table.setdefault(word, []).append((group, side))
    return {word: tuple(poles) for word, poles in table.items()}


_POLE_OF = _pole_table()


def stem(word: str) -> str:
    """A rough stem, enough to compare two requests: plural and -ing/-ed folded."""
    if word in STOPWORDS or word in NEGATORS or not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            root = word[: -len(suffix)]
            return root[:-1] if len(root) > 4 and root[-1] == root[-2] else root
    return word


def is_negation(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def number(word: str) -> str | None:
    """The canonical form of a number word or numeral (`3`, `3pm`, `15%` as 15, `26.2`), or None."""
    if word in _NUMBER_WORDS:
        return _canonical(float(_NUMBER_WORDS[word]))
    match = _DIGITS.fullmatch(word)
    if match is None:
        return None
    digits, suffix = match.groups()
    plain = digits.replace(",", "")
    # A time, a version or date with two dots (3.11.8, 12.05.2024), an address; a decimal ending
    # in 0 (3.10 is not 3.1 as a version, the likelier reading in a question): as written.
    if ":" in digits or plain.count(".") > 1 or ("." in plain and plain.endswith("0")):
        return digits + (suffix or "")
    value = float(plain)
    if not math.isfinite(value):  # hundreds of digits
        return digits + (suffix or "")
    if suffix == "k":
        value, suffix = value * 1000, None
    if suffix in ("st", "nd", "rd", "th", "%"):
        suffix = None
    return _canonical(value) + (suffix or "")


def poles(words: list[str]) -> dict[str, frozenset[int]]:
    """For each opposed group the words touch, which of its alternatives they use. A comparative or
    superlative of a listed word takes its word's place ("hottest": "hot", "easier": "easy")."""
    found: dict[str, set[int]] = {}
    for word in words:
        for group, side in (*_POLE_OF.get(word, ()), *_POLE_OF.get(_degree_base(word), ())):
            found.setdefault(group, set()).add(side)
    return {group: frozenset(sides) for group, sides in found.items()}


def _degree_base(word: str) -> str:
    """The listed word `word` is the -er or -est form of ("faster": "fast", "biggest": "big",
    "safest": "safe", "easiest": "easy"), or ""."""
    for suffix in ("est", "er"):
        root = word[: -len(suffix)]
        if not word.endswith(suffix) or len(root) < 3:
            continue
        for base in (root, root + "e", root[:-1] + "y" if root.endswith("i") else "", root[:-1]):
            if base in _POLE_OF and (base != root[:-1] or root[-1] == root[-2]):
                return base
    return ""


def narrowing_groups(word: str) -> frozenset[str]:
    """The closed groups of alternatives `word` names (any of which narrows a request)."""
    return frozenset(group for group, _ in _POLE_OF.get(word, ()) if group in _NARROWING)


def _canonical(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
