"""Run labelled pairs through the engine's steps: scope, embedding, rules, NLI.

`score` keeps every intermediate verdict (cosine, the rules' reason, the NLI score), so a HIT can
be decided afterwards for any threshold and any combination of checks without re-running models.
`view` and `normalise` let a lever change what the engine sees (the body, the compared text)
without touching the engine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sluicegate.embeddings.local import LocalEmbedder
from sluicegate.semantic.scope import Origin, Scoped, read_scope
from sluicegate.semantic.verify import Verifier

THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
ORIGIN = Origin("eval/default", "openai", "chat/completions")

Body = dict[str, Any]


@dataclass
class Scored:
    pair: dict[str, Any]
    cosine: float | None  # None: different scopes or not eligible, never a hit
    reason: str = ""  # why the rules refuse ("" when they do not)
    reworded: bool = False  # only wording noise differs: verification skips the model
    nli: float | None = None

    @property
    def rules_ok(self) -> bool:
        return not self.reason


async def score(
    pairs: list[dict[str, Any]],
    verifier: Verifier,
    view: Callable[[Body], Body] | None = None,
    normalise: Callable[[str], str] | None = None,
    align: Callable[[str, str], str] | None = None,
    align_before_embedding: bool = True,
) -> tuple[list[Scored], dict[str, float]]:
    """Score every pair. `align(stored, new)` may rewrite the new text against the stored one,
    for embedding and verification, or (`align_before_embedding=False`) for verification only."""
    see = view or (lambda body: body)
    tidy = normalise or (lambda text: text)
    compared: list[tuple[dict[str, Any], tuple[str, str] | None, tuple[str, str] | None]] = []
    for pair in pairs:
        a, b = read_scope(ORIGIN, see(pair["a"])), read_scope(ORIGIN, see(pair["b"]))
        same_scope = isinstance(a, Scoped) and isinstance(b, Scoped) and a.scope == b.scope
        texts = (tidy(a.text), tidy(b.text)) if isinstance(a, Scoped) and isinstance(b, Scoped) else None
        checked = (texts[0], align(*texts)) if texts and align else texts
        embedded = checked if align_before_embedding else texts
        compared.append((pair, embedded if same_scope else None, checked if same_scope else None))
    wanted = sorted({text for _, texts, _ in compared if texts for text in texts})
    embedder = LocalEmbedder()
    await embedder.warm_up()
    vectors = await embedder.embed(wanted) if wanted else np.zeros((0, 384), dtype=np.float32)
    row = {text: i for i, text in enumerate(wanted)}
    single = []
    for text in wanted[:30]:
        started = time.perf_counter()
        await embedder.embed([text])
        single.append((time.perf_counter() - started) * 1000)
    await embedder.close()

    results, nli_ms = [], []
    for pair, embedded, checked in compared:
        if embedded is None or checked is None:
            results.append(Scored(pair, None))
            continue
        item = Scored(pair, float(vectors[row[embedded[0]]] @ vectors[row[embedded[1]]]))
        first, second = checked
        if item.cosine is not None and item.cosine >= THRESHOLDS[0]:
            item.reason = verifier.rule_reason(second, first)
            item.reworded = verifier.reworded(second, first)
            if verifier.nli is not None and not item.reason and not item.reworded:
                started = time.perf_counter()
                item.nli = verifier.nli.mutual_entailment(second, first)
                nli_ms.append((time.perf_counter() - started) * 1000)
        results.append(item)
    latency = {
        "embed_one_ms_p50": statistics.median(single) if single else 0.0,
        "nli_pair_ms_p50": statistics.median(nli_ms) if nli_ms else 0.0,
        "nli_pair_ms_p99": float(np.percentile(nli_ms, 99)) if nli_ms else 0.0,
    }
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
