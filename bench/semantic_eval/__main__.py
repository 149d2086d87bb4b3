"""`python -m bench.semantic_eval` (`make eval-semantic`): precision and recall of a semantic HIT.

Every pair is one stored request `a` and one new request `b` (OpenAI chat bodies), both run
through the engine exactly as the gateway would: `scope.read_scope` (a different scope or an
ineligible request is a MISS), the local embedder (cosine of the two last user messages), then,
with verification, `verify.Verifier`. A HIT on a pair labelled `same` is a true positive, on any
other pair a false positive.

Two sets (`--set`): `own`, the project's 1,216 written pairs (`pairs.jsonl`), and `public`, pairs
built from data this project did not write (MultiWOZ turns via ConvLab-3, chitchat-dataset; see
`multiwoz.py`). Each is split by hash into `tune` and `heldout` (`--part`); levers are measured
on `tune` only (`--levers`), and the held-out part is reported, never tuned on. `--pairs FILE`
runs an operator's own labelled pairs instead (JSON lines `{"a": body, "b": body, "same": bool,
"category": "..."}`, reported as one held-out set `file`), to choose a threshold on their traffic.

Another embedder is measured in two steps, so that it needs nothing installed here: `--texts-out
FILE` writes every text the engine would embed (a JSON list) and stops; embed them elsewhere and
pass `--vectors FILE.npz` (arrays `texts` and `vectors`, rows of L2 norm 1) to score with those.

    python -m bench.semantic_eval [--set all|own|public] [--part all|tune|heldout] [--pairs FILE]
                                  [--limit N] [--levers] [--no-nli] [--out PATH]
                                  [--texts-out FILE | --vectors FILE.npz]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.semantic_eval import levers, multiwoz
from bench.semantic_eval.scoring import THRESHOLDS, Scored, compare_turns, hit, score, texts_to_embed
from sluicegate.semantic.verify import DEFAULT_THRESHOLD, load_verifier

HERE = Path(__file__).parent
_OWN_PART = {"dev": "tune", "test": "heldout"}


def load(which: str) -> list[dict[str, Any]]:
    pairs = []
    if which in ("all", "own"):
        for line in (HERE / "pairs.jsonl").read_bytes().splitlines():
            if line:
                pair = orjson.loads(line)
                pairs.append(pair | {"source": "own", "part": _OWN_PART[pair["split"]]})
    if which in ("all", "public"):
        pairs += multiwoz.build()
    return pairs


def sample(pairs: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most `limit` pairs per set and part, the same ones on every run (by hash of the id)."""
    if not limit:
        return pairs
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pair in sorted(pairs, key=lambda p: hashlib.sha256(p["id"].encode()).digest()):
        groups.setdefault((family(pair), pair["part"]), []).append(pair)
    return [p for group in groups.values() for p in group[:limit]]


def family(pair: dict[str, Any]) -> str:
    return pair["source"] if pair["source"] in ("own", "file") else "public"


def load_file(path: Path) -> list[dict[str, Any]]:
    pairs = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if line.strip():
            pair = orjson.loads(line)
            pair.setdefault("category", "pairs")
            pairs.append(pair | {"id": f"file-{number}", "source": "file", "part": "heldout"})
    return pairs


def table(results: list[Scored], mode: str, nli_threshold: float) -> list[dict[str, Any]]:
    positives = sum(1 for item in results if item.pair["same"])
    rows = []
    for threshold in THRESHOLDS:
        hits = [item for item in results if hit(item, threshold, mode, nli_threshold)]
        tp = sum(1 for item in hits if item.pair["same"])
        rows.append(
            {
                "threshold": threshold,
                "precision": tp / len(hits) if hits else 1.0,
                "recall": tp / positives if positives else 0.0,
                "tp": tp,
                "fp": len(hits) - tp,
                "false_positives": sorted(
                    Counter(i.pair["category"] for i in hits if not i.pair["same"]).items()
                ),
            }
        )
    return rows


def by_category(results: list[Scored], threshold: float, nli_threshold: float) -> list[dict[str, Any]]:
    """Per category: the share served from cache (recall where labelled same, wrong hits where not)."""
    rows = []
    for category, same in sorted(
        {(i.pair["category"], i.pair["same"]) for i in results}, key=lambda c: (not c[1], c[0])
    ):
        chosen = [i for i in results if i.pair["category"] == category and i.pair["same"] == same]
        hits = sum(hit(i, threshold, "verified", nli_threshold) for i in chosen)
        rows.append(
            {
                "category": category,
                "same": same,
                "pairs": len(chosen),
                "hits": hits,
                "rate": hits / len(chosen),
            }
        )
    return rows


def render_thresholds(name: str, rows: list[dict[str, Any]]) -> str:
    lines = [f"  {name}", "    threshold  precision  recall    TP   FP  false positives by category"]
    for row in rows:
        fps = ", ".join(f"{category} {count}" for category, count in row["false_positives"]) or "-"
        lines.append(
            f"    {row['threshold']:.2f}       {row['precision']:.3f}      {row['recall']:.3f}"
            f"  {row['tp']:4d} {row['fp']:4d}  {fps}"
        )
    return "\n".join(lines)


def render_categories(rows: list[dict[str, Any]]) -> str:
    lines = ["    category          label  pairs  hits  served"]
    for row in rows:
        label = "same" if row["same"] else "diff"
        note = "" if row["same"] else "  (wrong answers)"
        lines.append(
            f"    {row['category']:<17} {label}  {row['pairs']:5d} {row['hits']:5d}  {row['rate']:6.1%}{note}"
        )
    return "\n".join(lines)


def given_vectors(path: Path | None) -> dict[str, np.ndarray] | None:
    """Each text's vector from an `.npz` of `texts` (strings) and `vectors` (one row each), scaled
    to unit length: the engine's cosine is a dot product."""
    if path is None:
        return None
    with np.load(path) as saved:
        vectors = saved["vectors"].astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return dict(zip(saved["texts"].tolist(), vectors, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.semantic_eval")
    parser.add_argument("--set", choices=("all", "own", "public"), default="all")
    parser.add_argument("--part", choices=("all", "tune", "heldout"), default="all")
    parser.add_argument("--pairs", type=Path, help="your own labelled pairs (JSON lines) instead of the sets")
    parser.add_argument("--limit", type=int, default=0, help="at most N pairs per set and part")
    parser.add_argument("--levers", action="store_true", help="measure candidate levers (tune part only)")
    parser.add_argument("--no-nli", action="store_true", help="rules only (no NLI model)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    swap = parser.add_mutually_exclusive_group()
    swap.add_argument("--texts-out", type=Path, help="write the texts to embed (JSON) and stop")
    swap.add_argument("--vectors", type=Path, help="score with these vectors (.npz: texts, vectors)")
    args = parser.parse_args()
    if args.levers and (args.vectors or args.texts_out):
        parser.error("--levers measures the packaged embedder only: leave out --vectors and --texts-out")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a model hub

    loaded = load_file(args.pairs) if args.pairs else load(args.set)
    pairs = [p for p in sample(loaded, args.limit) if args.part in ("all", p["part"])]
    verifier = load_verifier(nli=not (args.no_nli or args.texts_out))  # listing texts needs no model
    nli_threshold = verifier.rules.nli_threshold
    if args.texts_out:
        texts = texts_to_embed(compare_turns(pairs, verifier))
        args.texts_out.write_bytes(orjson.dumps(texts))
        print(f"{len(texts)} texts -> {args.texts_out}")
        return
    started = time.perf_counter()
    results, latency = asyncio.run(score(pairs, verifier, given=given_vectors(args.vectors)))
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "latency": latency,
        "nli_threshold": nli_threshold,
        "parts": {},
    }
    for part in ("tune", "heldout"):
        for fam in ("own", "public", "file"):
            chosen = [i for i in results if i.pair["part"] == part and family(i.pair) == fam]
            if not chosen:
                continue
            same = sum(1 for i in chosen if i.pair["same"])
            print(f"\n== {part} / {fam}: {len(chosen)} pairs, {same} labelled same")
            entry = {
                "cosine": table(chosen, "cosine", nli_threshold),
                "verified": table(chosen, "verified", nli_threshold),
                "by_category": by_category(chosen, DEFAULT_THRESHOLD, nli_threshold),
            }
            report["parts"].setdefault(part, {})[fam] = entry
            print(render_thresholds("cosine only (no verification)", entry["cosine"]))
            print(render_thresholds("cosine + verification (default)", entry["verified"]))
            print(f"  by category at the default ({DEFAULT_THRESHOLD} + rules + NLI):")
            print(render_categories(entry["by_category"]))
    if args.levers:
        tune = [p for p in pairs if p["part"] == "tune"]
        report["levers"] = asyncio.run(
            levers.measure(tune, [i for i in results if i.pair["part"] == "tune"], verifier)
        )
    print("\nlatency (this machine, shared): " + ", ".join(f"{k} {v:.1f}" for k, v in latency.items()))
    print(f"evaluated in {time.perf_counter() - started:.0f} s; results -> {args.out}")
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
