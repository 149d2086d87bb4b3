"""Candidate levers for issue 18, measured on the `tune` part only; the gateway's defaults stay.

- `thresholds`: what each category gets at a lower similarity cut with verification on;
- `refusals`: why the rules refuse pairs labelled same (does a typo read as an unknown entity?);
- `normalised`: contractions written out and closing punctuation dropped (`casual`), and also
  lower case (`lowercase`), on both texts before embedding and verification;
- `history`: a conversation compared by meaning instead of byte for byte: the scope drops earlier
  turns and the compared text is the last two user turns joined, so chatter before them and
  rewording inside them reach the embedder and the verifier instead of splitting the scope.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.semantic_eval.scoring import Body, Scored, hit, score
from sluicegate.semantic.verify import Verifier

LEVER_THRESHOLDS = (0.80, 0.85, 0.90)
_CONTRACTED = (
    (r"\bcan't\b", "cannot"), (r"\bwon't\b", "will not"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"\bI'm\b", "I am"), (r"\bi'm\b", "i am"),
    (r"\b(what|that|there|where|who|how|it|here)'s\b", r"\1 is"),
)  # fmt: skip


def casual(text: str) -> str:
    for pattern, full in _CONTRACTED:
        text = re.sub(pattern, full, text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip().rstrip(".?! ")


def lowercase(text: str) -> str:
    return casual(text).lower()


def last_two_user_turns(body: Body) -> Body:
    """The body with its history folded into the compared text (system prompt kept in scope)."""
    messages = body.get("messages", [])
    users = [m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
    if len(users) < 2:
        return body
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    return body | {"messages": [*system, {"role": "user", "content": " ".join(users[-2:])}]}


async def measure(pairs: list[dict[str, Any]], results: list[Scored], verifier: Verifier) -> dict[str, Any]:
    if any(p["part"] != "tune" for p in pairs):
        raise ValueError("levers are measured on the tune part only")
    nli = verifier.rules.nli_threshold
    report: dict[str, Any] = {
        "thresholds": _sweep(results, nli),
        "refusals": _refusals(results),
    }
    _print("levers (tune only) - the default engine at lower thresholds", report["thresholds"])
    print("\nrule refusals of pairs labelled same (cosine >= 0.80), by category:")
    for category, reasons in report["refusals"].items():
        print(f"    {category:<17} " + ", ".join(f"{r} {n}" for r, n in reasons))
    variants: list[tuple[str, Callable[[Body], Body] | None, Callable[[str], str] | None]] = [
        ("normalised: casual", None, casual),
        ("normalised: casual + lower case", None, lowercase),
        ("history: last two user turns compared by meaning", last_two_user_turns, None),
    ]
    for name, view, normalise in variants:
        scored, _ = await score(pairs, verifier, view=view, normalise=normalise)
        report[name] = _sweep(scored, nli)
        _print(f"lever {name}", report[name])
    return report


def _sweep(results: list[Scored], nli_threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for threshold in LEVER_THRESHOLDS:
        rows: dict[str, Any] = {}
        for source in sorted({i.pair["source"] == "own" for i in results}):
            chosen = [i for i in results if (i.pair["source"] == "own") == source]
            hits = [i for i in chosen if hit(i, threshold, "verified", nli_threshold)]
            tp = sum(1 for i in hits if i.pair["same"])
            positives = sum(1 for i in chosen if i.pair["same"])
            name = "own" if source else "public"
            rows[name] = {
                "precision": tp / len(hits) if hits else 1.0,
                "recall": tp / positives if positives else 0.0,
            }
            for category in sorted({i.pair["category"] for i in chosen}):
                group = [i for i in chosen if i.pair["category"] == category]
                served = sum(hit(i, threshold, "verified", nli_threshold) for i in group) / len(group)
                rows[f"{name}/{category}"] = {"same": group[0].pair["same"], "served": served}
        out[f"{threshold:.2f}"] = rows
    return out


def _print(title: str, sweep: dict[str, Any]) -> None:
    print(f"\n{title}")
    thresholds = list(sweep)
    print(f"    {'':<40}" + "".join(f"{'@' + t:>18}" for t in thresholds))
    for key, first in sweep[thresholds[0]].items():
        if "precision" in first:
            label = key
            cells = [
                f"P {sweep[t][key]['precision']:.3f} R {sweep[t][key]['recall']:.2f}" for t in thresholds
            ]
        else:
            label = f"  {key} ({'same' if first['same'] else 'diff'})"
            cells = [f"{sweep[t][key]['served']:.1%}" for t in thresholds]
        print(f"    {label:<40}" + "".join(f"{c:>18}" for c in cells))


def _refusals(results: list[Scored]) -> dict[str, list[tuple[str, int]]]:
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
