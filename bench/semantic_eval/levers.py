"""Candidate levers for issue 18, measured on the `tune` part only; the gateway's defaults stay.

Each lever changes what the engine sees or how it decides, here in the bench, never in the
gateway, and is reported per category at similarity cuts 0.80 / 0.85 / 0.90 (verification on).
The engine already compares conversations turn by turn and aligns spelling to the candidate
(two levers measured here first, then built in); what is left to try:

- `default`: the engine as it is, at lower cuts;
- `casual` / `lowercase`: contractions written out and closing punctuation dropped (and lower
  case) on both texts before embedding and verification;
- `reply prefix`: a leading answer to the assistant ("No, ...", "Yes please, ...", "Thanks. ...")
  dropped: the rules count a leading "No" as a negation of the request;
- `history joined`: the scope drops earlier turns and the compared text is the last two user
  turns joined (chatter before them and rewording inside them reach the embedder);
- `spelling not aligned` / `spelling aligned for verification only`: the engine without its
  alignment, or with the cosine on the texts as typed (what `verify.py` alone could do).

`refusals` says why the rules refused pairs labelled same, per lever (does a typo read as an
unknown entity? does "No, just the postcode" read as a negation?).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.semantic_eval.scoring import Body, Scored, hit, score
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


async def measure(pairs: list[dict[str, Any]], results: list[Scored], verifier: Verifier) -> dict[str, Any]:
    if any(p["part"] != "tune" for p in pairs):
        raise ValueError("levers are measured on the tune part only")
    nli = verifier.rules.nli_threshold

    def plain(scored: list[Scored]) -> tuple[Decide, Refusals]:
        return (lambda t: [hit(i, t, "verified", nli) for i in scored]), _refusals(scored)

    levers: dict[str, tuple[Decide, Refusals]] = {"default": plain(results)}
    for name, view, normalise in (
        ("casual", None, casual),
        ("lowercase", None, lowercase),
        ("reply prefix", None, without_reply),
        ("history joined", joined, None),
    ):
        scored, _ = await score(pairs, verifier, view=view, normalise=normalise)
        levers[name] = plain(scored)
    for name, spelling in (
        ("spelling not aligned", "off"),
        ("spelling aligned for verification only", "verification"),
    ):
        scored, _ = await score(pairs, verifier, spelling=spelling)
        levers[name] = plain(scored)

    report: dict[str, Any] = {}
    for name, (decide, refusals) in levers.items():
        report[name] = {"sweep": _sweep(pairs, decide), "refusals": refusals}
        _print(f"lever: {name}", report[name])
    return report


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
