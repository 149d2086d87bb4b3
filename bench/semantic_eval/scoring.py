"""Run labelled pairs through the engine's steps: scope, spelling alignment, embedding, rules, NLI.

As the gateway does for the nearest candidate (`semantic.compare`): the turns of `b` (the last
question, then its context) are aligned to the spelling of `a`'s when `a` is at least
`ALIGN_FLOOR` similar, the aligned turns are embedded again, the similarity is the lowest cosine
over the turns, and each turn that differs is verified against `a`'s turn at the same place.
`score` keeps every intermediate verdict (cosine, the rules' reason, the NLI score), so a HIT can
be decided afterwards for any threshold and any combination of checks without re-running models.
`view` and `normalise` let a lever change what the engine sees (the body, the compared text)
without touching the engine; `spelling` turns alignment off or (`"verification"`) leaves the
cosine on the texts as typed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sluicegate.embeddings.local import LocalEmbedder
from sluicegate.providers import REGISTRY
from sluicegate.semantic.compare import ALIGN_FLOOR, align_turns, embedded, lowest_cosine
from sluicegate.semantic.scope import Origin, Scoped, read_scope
from sluicegate.semantic.verify import Verifier

THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
ORIGIN = Origin("eval/default", "openai", "chat/completions")
READERS = REGISTRY["openai"].conversations

Body = dict[str, Any]


@dataclass
class Scored:
    pair: dict[str, Any]
    cosine: float | None  # the lowest over the turns; None: different scopes or not eligible, never a hit
    reason: str = ""  # why the rules refuse a turn ("" when they do not)
    reworded: bool = False  # only wording noise differs in every turn: verification skips the model
    nli: float | None = None  # the lowest over the turns the model was run on

    @property
    def rules_ok(self) -> bool:
        return not self.reason


Turns = tuple[str, ...]
Compared = list[tuple[dict[str, Any], tuple[Turns, Turns, Turns] | None]]


def compare_turns(
    pairs: list[dict[str, Any]],
    verifier: Verifier,
    view: Callable[[Body], Body] | None = None,
    normalise: Callable[[str], str] | None = None,
    spelling: str = "aligned",
) -> Compared:
    """Each pair with its stored, new and aligned turns; None where the scopes differ."""
    see = view or (lambda body: body)
    tidy = normalise or (lambda text: text)
    compared: Compared = []
    for pair in pairs:
        a, b = read_scope(ORIGIN, see(pair["a"]), READERS), read_scope(ORIGIN, see(pair["b"]), READERS)
        if not (isinstance(a, Scoped) and isinstance(b, Scoped) and a.scope == b.scope):
            compared.append((pair, None))
            continue
        stored, new = tuple(map(tidy, a.turns)), tuple(map(tidy, b.turns))
        aligned = new if spelling == "off" else align_turns(verifier, new, stored)
        compared.append((pair, (stored, new, aligned)))
    return compared


def texts_to_embed(compared: Compared) -> list[str]:
    """Every text the engine embeds for these pairs, once each, sorted."""
    return sorted(
        {
            embedded(place, text)
            for _, turns in compared
            if turns
            for side in turns
            for place, text in enumerate(side)
        }
    )


async def score(
    pairs: list[dict[str, Any]],
    verifier: Verifier,
    view: Callable[[Body], Body] | None = None,
    normalise: Callable[[str], str] | None = None,
    spelling: str = "aligned",
    given: dict[str, np.ndarray] | None = None,
) -> tuple[list[Scored], dict[str, float]]:
    """Score every pair. `spelling`: `aligned` (the engine), `verification` (aligned for the
    verifier only, cosine on the texts as typed) or `off`. `given`: a vector (L2 norm 1) for
    every text `texts_to_embed` names, from another embedder, instead of the packaged one."""
    compared = compare_turns(pairs, verifier, view, normalise, spelling)
    wanted = texts_to_embed(compared)
    single = []
    if given is not None:
        missing = [text for text in wanted if text not in given]
        if missing:
            raise ValueError(
                f"{len(missing)} of {len(wanted)} texts have no given vector (first: {missing[0]!r}): "
                "write the texts again with --texts-out for the same --set, --part and --limit"
            )
        vectors = np.stack([given[text] for text in wanted]) if wanted else np.zeros((0, 1), dtype=np.float32)
    else:
        embedder = LocalEmbedder()
        await embedder.warm_up()
        vectors = await embedder.embed(wanted) if wanted else np.zeros((0, 384), dtype=np.float32)
        for text in wanted[:30]:
            started = time.perf_counter()
            await embedder.embed([text])
            single.append((time.perf_counter() - started) * 1000)
        await embedder.close()
    row = {text: i for i, text in enumerate(wanted)}

    def cosine(first: tuple[str, ...], second: tuple[str, ...]) -> float:
        rows = [[row[embedded(place, text)] for place, text in enumerate(side)] for side in (first, second)]
        return lowest_cosine(vectors[rows[0]], vectors[rows[1]])

    results, nli_ms = [], []
    for pair, turns in compared:
        if turns is None:
            results.append(Scored(pair, None))
            continue
        stored, new, aligned = turns
        typed = cosine(new, stored)
        checked = aligned if typed >= ALIGN_FLOOR else new  # the gateway aligns near candidates only
        item = Scored(pair, cosine(checked, stored) if spelling == "aligned" else typed)
        if item.cosine is not None and item.cosine >= THRESHOLDS[0]:
            item.reworded = True
            for second, first in zip(checked, stored, strict=True):  # as compare.verify_turns
                if second == first:
                    continue
                item.reason = verifier.rule_reason(second, first)
                if item.reason:
                    break
                if verifier.nli is not None and not verifier.reworded(second, first):
                    item.reworded = False
                    started = time.perf_counter()
                    found = verifier.nli.mutual_entailment(second, first)
                    nli_ms.append((time.perf_counter() - started) * 1000)
                    item.nli = found if item.nli is None else min(item.nli, found)
        results.append(item)
    latency = {
        "nli_pair_ms_p50": statistics.median(nli_ms) if nli_ms else 0.0,
        "nli_pair_ms_p99": float(np.percentile(nli_ms, 99)) if nli_ms else 0.0,
    }
    if single:  # the packaged embedder's; given vectors were timed elsewhere, if at all
        latency = {"embed_one_ms_p50": statistics.median(single), **latency}
    return results, latency


def hit(item: Scored, threshold: float, mode: str, nli_threshold: float) -> bool:
    """Would the engine serve `a`'s answer for `b`? `mode`: cosine, rules or verified (the default).
    (The model runs only where the rules pass, as in the gateway, so there is no NLI-only mode.)"""
    if item.cosine is None or item.cosine < threshold:
        return False
    nli_ok = item.nli is None or item.nli >= nli_threshold
    return {"cosine": True, "rules": item.rules_ok, "verified": item.rules_ok and (item.reworded or nli_ok)}[
        mode
    ]
