"""Candidate levers for issue 18, measured on the `tune` part only; the gateway's defaults stay.

Each lever changes what the engine sees or how it decides, here in the bench, never in the
gateway, and is reported per category at similarity cuts 0.80 / 0.85 / 0.90 (verification on):

- `default`: the engine as it is, at lower cuts;
- `casual` / `lowercase`: contractions written out and closing punctuation dropped (and lower
  case) on both texts before embedding and verification;
- `reply prefix`: a leading answer to the assistant ("No, ...", "Yes please, ...", "Thanks. ...")
  dropped: the rules count a leading "No" as a negation of the request;
- `history joined`: the scope drops earlier turns and the compared text is the last two user
  turns joined (chatter before them and rewording inside them reach the embedder);
- `history turn by turn`: the scope drops earlier turns; a HIT needs the last user turns to match
  and the user turns right before them to match (identical, or similar and verified);
- `... + typo-tolerant names`: as above, with the verifier's entity rule accepting a name that is
  one keyboard slip (an edit of distance one, five letters or more) from a word on the other side;
- `spelling aligned`: a word of the new request that the embedder's vocabulary does not know and
  that is one slip from a word of the stored request takes the stored spelling before embedding
  and verification (in the gateway: after the search, against the nearest candidate); `... for
  verification only` leaves the cosine on the texts as typed (what `verify.py` alone could do).

`refusals` says why the rules refused pairs labelled same, per lever (does a typo read as an
unknown entity? does "No, just the postcode" read as a negation?).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from bench.semantic_eval.scoring import Body, Scored, hit, score
from sluicegate.embeddings.local import ModelFiles
from sluicegate.semantic import verify
from sluicegate.semantic.verify import Verifier

LEVER_THRESHOLDS = (0.80, 0.85, 0.90)
Decide = Callable[[float], list[bool]]
Refusals = dict[str, list[tuple[str, int]]]
_CONTRACTED = (
    (r"\bcan't\b", "cannot"), (r"\bwon't\b", "will not"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"\bI'm\b", "I am"),
    (r"\b(what|that|there|where|who|how|it|here)'s\b", r"\1 is"),
)  # fmt: skip
# A reply to the assistant, set off by punctuation, before the request ("No, just the postcode");
# "No smoking rooms?" keeps its "No".
_REPLY = re.compile(
    r"^(?:(?:no|yes|yeah|ok|okay|sure|great|perfect|thanks|thank you|not (?:right )?now|not yet|"
    r"no thanks|no thank you|yes please|that's all)\s*[,.!]+\s*)+",
    re.IGNORECASE,
)


def casual(text: str) -> str:
    for pattern, full in _CONTRACTED:
        text = re.sub(pattern, full, text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip().rstrip(".?! ")


def lowercase(text: str) -> str:
    return casual(text).lower()


def without_reply(text: str) -> str:
    rest = _REPLY.sub("", text).strip()
    return rest[:1].upper() + rest[1:] if rest else text


def _users(body: Body) -> tuple[list[dict[str, Any]], list[str]]:
    messages = body.get("messages", [])
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    users = [m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
    return system, users


def joined(body: Body) -> Body:
    """History folded into the compared text: the last two user turns as one message."""
    system, users = _users(body)
    text = " ".join(users[-2:])
    return body | {"messages": [*system, {"role": "user", "content": text}]} if users else body


def last_turn(body: Body) -> Body:
    system, users = _users(body)
    return body | {"messages": [*system, {"role": "user", "content": users[-1]}]} if users else body


def previous_turn(body: Body) -> Body:
    """The user turn before the last (the one it most likely refers to), or an empty marker."""
    system, users = _users(body)
    text = users[-2] if len(users) >= 2 else "(none)"
    return body | {"messages": [*system, {"role": "user", "content": text}]}


@contextlib.contextmanager
def typo_tolerant_names() -> Iterator[None]:
    """The entity rule, patched for the measurement only: a one-slip spelling of a word counts."""
    original = verify._missing_entity

    def missing(a: Any, b: Any) -> str:
        for entity in sorted(a.entities):
            if entity in b.vocabulary or entity in b.lower:
                continue
            if len(entity) < 5 or not any(_one_slip(entity, word) for word in b.vocabulary):
                return str(entity)
        return ""

    verify._missing_entity = missing
    try:
        yield
    finally:
        verify._missing_entity = original


class SpellingAligner:
    """`align(stored, new)`: each word of the new text that is no word of the embedder's vocabulary
    and is one keyboard slip from a word of the stored text takes the stored spelling ("Fitzbilles"
    -> "Fitzbillies"), so the embedder and the NLI model compare the words the user meant. Known
    words are never changed ("east" stays "east" next to "west")."""

    def __init__(self) -> None:
        tokenizer = orjson.loads(ModelFiles.packaged().tokenizer.read_bytes())
        self.known = frozenset(w for w in tokenizer["model"]["vocab"] if w.isalpha())

    def __call__(self, stored: str, new: str) -> str:
        theirs = {w.lower(): w for w in re.findall(r"[A-Za-z]+", stored)}

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            if len(word) < 4 or word.lower() in self.known or word.lower() in theirs:
                return word
            near = [w for low, w in theirs.items() if _one_slip(word.lower(), low)]
            return near[0] if len(near) == 1 else word

        return re.sub(r"[A-Za-z]+", fix, new)


def _one_slip(a: str, b: str) -> bool:
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


async def measure(pairs: list[dict[str, Any]], results: list[Scored], verifier: Verifier) -> dict[str, Any]:
    if any(p["part"] != "tune" for p in pairs):
        raise ValueError("levers are measured on the tune part only")
    nli = verifier.rules.nli_threshold

    def plain(scored: list[Scored]) -> tuple[Decide, Refusals]:
        return (lambda t: [hit(i, t, "verified", nli) for i in scored]), _refusals(scored)

    async def turn_by_turn(
        align: Callable[[str, str], str] | None = None, before_embedding: bool = True
    ) -> tuple[Decide, Refusals]:
        last, _ = await score(
            pairs, verifier, view=last_turn, align=align, align_before_embedding=before_embedding
        )
        before, _ = await score(
            pairs, verifier, view=previous_turn, align=align, align_before_embedding=before_embedding
        )

        def decide(t: float) -> list[bool]:
            return [
                hit(x, t, "verified", nli) and (_same_turn(y) or hit(y, t, "verified", nli))
                for x, y in zip(last, before, strict=True)
            ]

        refusals = {f"last turn: {k}": v for k, v in _refusals(last).items()}
        return decide, refusals | {f"turn before: {k}": v for k, v in _refusals(before).items()}

    levers: dict[str, tuple[Decide, Refusals]] = {"default": plain(results)}
    for name, view, normalise in (
        ("casual", None, casual),
        ("lowercase", None, lowercase),
        ("reply prefix", None, without_reply),
        ("history joined", joined, None),
    ):
        scored, _ = await score(pairs, verifier, view=view, normalise=normalise)
        levers[name] = plain(scored)
    levers["history turn by turn"] = await turn_by_turn()
    with typo_tolerant_names():
        levers["history turn by turn + typo-tolerant names"] = await turn_by_turn()
        scored, _ = await score(pairs, verifier)
        levers["typo-tolerant names"] = plain(scored)
    aligner = SpellingAligner()
    scored, _ = await score(pairs, verifier, align=aligner)
    levers["spelling aligned to the candidate"] = plain(scored)
    scored, _ = await score(pairs, verifier, align=aligner, align_before_embedding=False)
    levers["spelling aligned for verification only"] = plain(scored)
    levers["history turn by turn + spelling aligned"] = await turn_by_turn(aligner)
    levers["history turn by turn + spelling aligned for verification only"] = await turn_by_turn(
        aligner, False
    )

    report: dict[str, Any] = {}
    for name, (decide, refusals) in levers.items():
        report[name] = {"sweep": _sweep(pairs, decide), "refusals": refusals}
        _print(f"lever: {name}", report[name])
    return report


def _same_turn(item: Scored) -> bool:
    """Both bodies have the same user turn before the last (or neither has one)."""
    a, b = (item.pair[k]["messages"] for k in ("a", "b"))
    return previous_turn({"messages": a}) == previous_turn({"messages": b})


def _sweep(pairs: list[dict[str, Any]], decide: Decide) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for threshold in LEVER_THRESHOLDS:
        hits = decide(threshold)
        rows: dict[str, Any] = {}
        for fam in ("own", "public"):
            chosen = [
                (p, h) for p, h in zip(pairs, hits, strict=True) if (p["source"] == "own") == (fam == "own")
            ]
            if not chosen:
                continue
            served = [p for p, h in chosen if h]
            tp = sum(1 for p in served if p["same"])
            positives = sum(1 for p, _ in chosen if p["same"])
            rows[fam] = {
                "precision": tp / len(served) if served else 1.0,
                "recall": tp / positives if positives else 0.0,
            }
            for category, same in sorted(
                {(p["category"], p["same"]) for p, _ in chosen}, key=lambda c: (not c[1], c[0])
            ):
                group = [h for p, h in chosen if p["category"] == category and p["same"] == same]
                rows[f"{fam}/{category} ({'same' if same else 'diff'})"] = {"served": sum(group) / len(group)}
        out[f"{threshold:.2f}"] = rows
    return out


def _print(title: str, entry: dict[str, Any]) -> None:
    sweep = entry["sweep"]
    print(f"\n{title}")
    thresholds = list(sweep)
    print(f"    {'':<36}" + "".join(f"{'@' + t:>18}" for t in thresholds))
    for key, first in sweep[thresholds[0]].items():
        if "precision" in first:
            label = key
            cells = [
                f"P {sweep[t][key]['precision']:.3f} R {sweep[t][key]['recall']:.2f}" for t in thresholds
            ]
        else:
            label, cells = f"  {key}", [f"{sweep[t][key]['served']:.1%}" for t in thresholds]
        print(f"    {label:<36}" + "".join(f"{c:>18}" for c in cells))
    if entry["refusals"]:
        print("    rule refusals of pairs labelled same (cosine >= 0.80):")
        for key, reasons in entry["refusals"].items():
            print(f"      {key:<32} " + ", ".join(f"{r} {n}" for r, n in reasons))


def _refusals(results: list[Scored]) -> Refusals:
    counts: dict[str, Counter[str]] = {}
    for item in results:
        if (
            item.pair["same"]
            and item.cosine is not None
            and item.cosine >= LEVER_THRESHOLDS[0]
            and item.reason
        ):
            kind = item.pair.get("kind", "")
            key = f"{item.pair['source']}/{item.pair['category']}" + (f"/{kind}" if kind else "")
            counts.setdefault(key, Counter())[item.reason.split(" '")[0].split(" (")[0]] += 1
    return {key: counts[key].most_common() for key in sorted(counts)}
