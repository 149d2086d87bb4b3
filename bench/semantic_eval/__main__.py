"""`python -m bench.semantic_eval` (`make eval-semantic`): precision and recall of a semantic HIT.

Every pair of `pairs.jsonl` is one stored request `a` and one new request `b`, both run through
the engine exactly as the gateway would: `scope.read_scope` (a different scope or an ineligible
request is a MISS), the local embedder (cosine of the two last user messages), then, with
verification, `verify.Verifier`. A HIT on a pair labelled `same` is a true positive, on any other
pair a false positive. Prints, for thresholds 0.70..0.95, precision and recall without and with
verification (and rules-only / NLI-only for comparison), per split (`dev` was used to tune the
rules, `test` was not), and where the false positives come from; writes `results.json`.

    python -m bench.semantic_eval [--split all|dev|test] [--no-nli] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sluicegate.embeddings.local import LocalEmbedder
from sluicegate.semantic.scope import Origin, Scoped, read_scope
from sluicegate.semantic.verify import DEFAULT_THRESHOLD, Verifier, load_verifier

HERE = Path(__file__).parent
THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
ORIGIN = Origin("eval/default", "openai", "chat/completions")


@dataclass
class Scored:
    pair: dict[str, Any]
    cosine: float | None  # None: different scopes or not eligible, never a hit
    rules_ok: bool = True
    reworded: bool = False  # only wording noise differs: verification skips the model
    nli: float | None = None


async def score(pairs: list[dict[str, Any]], verifier: Verifier) -> tuple[list[Scored], dict[str, float]]:
    scoped = []
    for pair in pairs:
        a, b = read_scope(ORIGIN, pair["a"]), read_scope(ORIGIN, pair["b"])
        same_scope = isinstance(a, Scoped) and isinstance(b, Scoped) and a.scope == b.scope
        scoped.append((pair, a, b, same_scope))
    texts = sorted({s.text for _, a, b, same in scoped if same for s in (a, b) if isinstance(s, Scoped)})
    embedder = LocalEmbedder()
    await embedder.warm_up()
    vectors = await embedder.embed(texts)
    row = {text: i for i, text in enumerate(texts)}
    single = []
    for text in texts[:100]:
        started = time.perf_counter()
        await embedder.embed([text])
        single.append((time.perf_counter() - started) * 1000)
    await embedder.close()

    results, rule_ms, nli_ms = [], [], []
    for pair, a, b, same in scoped:
        if not same or not isinstance(a, Scoped) or not isinstance(b, Scoped):
            results.append(Scored(pair, None))
            continue
        cosine = float(vectors[row[a.text]] @ vectors[row[b.text]])
        item = Scored(pair, cosine)
        if cosine >= THRESHOLDS[0]:
            started = time.perf_counter()
            item.rules_ok = not verifier.rule_reason(b.text, a.text)
            item.reworded = verifier.reworded(b.text, a.text)
            rule_ms.append((time.perf_counter() - started) * 1000)
            if verifier.nli is not None:
                started = time.perf_counter()
                item.nli = verifier.nli.mutual_entailment(b.text, a.text)
                nli_ms.append((time.perf_counter() - started) * 1000)
        results.append(item)
    latency = {
        "embed_one_ms_p50": statistics.median(single),
        "embed_one_ms_p99": float(np.percentile(single, 99)),
        "rules_ms_p50": statistics.median(rule_ms) if rule_ms else 0.0,
        "nli_pair_ms_p50": statistics.median(nli_ms) if nli_ms else 0.0,
        "nli_pair_ms_p99": float(np.percentile(nli_ms, 99)) if nli_ms else 0.0,
    }
    return results, latency


def hit(item: Scored, threshold: float, mode: str, nli_threshold: float) -> bool:
    if item.cosine is None or item.cosine < threshold:
        return False
    nli_ok = item.nli is None or item.nli >= nli_threshold
    return {
        "cosine": True,
        "rules": item.rules_ok,
        "nli": nli_ok,
        "verified": item.rules_ok and (item.reworded or nli_ok),
    }[mode]


def table(results: list[Scored], mode: str, nli_threshold: float) -> list[dict[str, Any]]:
    positives = sum(1 for item in results if item.pair["same"])
    rows = []
    for threshold in THRESHOLDS:
        hits = [item for item in results if hit(item, threshold, mode, nli_threshold)]
        tp = sum(1 for item in hits if item.pair["same"])
        fp = len(hits) - tp
        rows.append(
            {
                "threshold": threshold,
                "precision": tp / len(hits) if hits else 1.0,
                "recall": tp / positives if positives else 0.0,
                "tp": tp,
                "fp": fp,
                "false_positives": sorted(
                    Counter(i.pair["category"] for i in hits if not i.pair["same"]).items()
                ),
            }
        )
    return rows


def render(name: str, rows: list[dict[str, Any]]) -> str:
    lines = [f"  {name}", "    threshold  precision  recall    TP   FP  false positives by category"]
    for row in rows:
        fps = ", ".join(f"{category} {count}" for category, count in row["false_positives"]) or "-"
        lines.append(
            f"    {row['threshold']:.2f}       {row['precision']:.3f}      {row['recall']:.3f}"
            f"  {row['tp']:4d} {row['fp']:4d}  {fps}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.semantic_eval")
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--no-nli", action="store_true", help="rules only (no NLI model)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a model hub

    pairs = [orjson.loads(line) for line in (HERE / "pairs.jsonl").read_bytes().splitlines() if line]
    verifier = load_verifier(nli=not args.no_nli)
    started = time.perf_counter()
    results, latency = asyncio.run(score(pairs, verifier))
    nli_threshold = verifier.rules.nli_threshold
    modes = {"cosine": "cosine only (no verification)", "verified": "cosine + verification (default)"}
    modes |= (
        {"rules": "cosine + rules only"}
        if args.no_nli
        else {"rules": "cosine + rules only", "nli": "cosine + NLI only"}
    )
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "latency": latency,
        "nli_threshold": nli_threshold,
        "splits": {},
    }
    splits = ("all", "dev", "test") if args.split == "all" else (args.split,)
    for split in splits:
        chosen = [item for item in results if split == "all" or item.pair["split"] == split]
        counts = Counter((item.pair["category"], item.pair["same"]) for item in chosen)
        print(f"\n== {split}: {len(chosen)} pairs, {sum(1 for i in chosen if i.pair['same'])} labelled same")
        print("   " + ", ".join(f"{c}/{'same' if s else 'diff'} {n}" for (c, s), n in sorted(counts.items())))
        report["splits"][split] = {}
        for mode, title in modes.items():
            rows = table(chosen, mode, nli_threshold)
            report["splits"][split][mode] = rows
            print(render(title, rows))
    recall = _recall_by_category([i for i in results], DEFAULT_THRESHOLD, nli_threshold)
    report["recall_by_category_at_default"] = recall
    print(
        f"\nrecall by category at {DEFAULT_THRESHOLD} with verification: "
        + ", ".join(f"{c} {r:.2f}" for c, r in recall.items())
    )
    print("latency (this machine, shared): " + ", ".join(f"{k} {v:.1f}" for k, v in latency.items()))
    print(f"evaluated in {time.perf_counter() - started:.0f} s; results -> {args.out}")
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def _recall_by_category(results: list[Scored], threshold: float, nli_threshold: float) -> dict[str, float]:
    recall = {}
    for category in sorted({i.pair["category"] for i in results if i.pair["same"]}):
        chosen = [i for i in results if i.pair["same"] and i.pair["category"] == category]
        recall[category] = sum(hit(i, threshold, "verified", nli_threshold) for i in chosen) / len(chosen)
    return recall


if __name__ == "__main__":
    main()
